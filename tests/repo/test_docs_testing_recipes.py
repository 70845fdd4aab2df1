"""The recipes of docs/testing-your-shop.md, run against the demo shop as a shop's own tests would.

Each test class is one section of the page. The page's backends are copied from this module and
`test_the_pages_*` check that they still are, that its imports import and that every key of its
`RECOMMENDATIONS` dicts is a setting: the page shows code that runs.
"""

import ast
import importlib
import json
import re
import textwrap
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.test import TestCase, override_settings

from demo_shop.celery import app as celery_app
from demo_shop.orders.checkout import place_order
from recommendations.backends.base import Backend, EndpointResponse
from recommendations.conf.defaults import DEFAULTS
from recommendations.exceptions import EndpointUnavailable
from recommendations.service import recommend
from recommendations.signals import purchase_completed
from recommendations.tasks import prefetch_user, refresh_fallback
from tests.support.factories import make_customer, make_order, make_product

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing-your-shop.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
WIDGET_ITEM = re.compile(r'class="card recommendation" data-item-id="([^"]+)"')


class FixedAnswerBackend(Backend):
    """Answers every request with `items`, best first, the way a model would; no network."""

    name = "fixed"
    items: list[str] = []

    def invoke(self, body, *, policy, target_variant):
        sent = json.loads(body)
        users = len(sent["instances"]) if "instances" in sent else 1
        answer = {
            "recommendations": [
                {"item_id": item_id, "score": 1.0 / rank}
                for rank, item_id in enumerate(self.items, start=1)
            ],
            "model_version": "test",
        }
        return EndpointResponse(body=json.dumps({"predictions": [answer] * users}).encode())


class DownBackend(Backend):
    """An endpoint that is down: every call fails the way a refused connection does."""

    name = "down"

    def invoke(self, body, *, policy, target_variant):
        raise EndpointUnavailable(endpoint="test", detail="down on purpose")


TEST_RECOMMENDATIONS = {
    **settings.RECOMMENDATIONS,
    "BACKEND": "tests.repo.test_docs_testing_recipes.FixedAnswerBackend",
    # A test machine is slower than production: a budget no page misses, so that a test
    # sees the model's answer and never the fallback by chance.
    "BUDGET_MS": 5000,
    # Nothing measured, nobody held out or shown no widget.
    "TRACKING": False,
    "HOLDOUT_SHARE": 0.0,
    "CONTROL_SHARE": 0.0,
    # No copies kept in the process between tests.
    "CARD_CACHE_SECONDS": 0,
    "PRODUCT_SNAPSHOT_SECONDS": 0,
}


def widget_item_ids(response) -> list[str]:
    """The item ids the widget shows, in order (the default card template's data-item-id)."""
    return WIDGET_ITEM.findall(response.content.decode())


@override_settings(RECOMMENDATIONS=TEST_RECOMMENDATIONS)
class RecommendationsTestCase(TestCase):
    """What each recipe starts from: the test settings and an empty cache."""

    def setUp(self):
        # The prefetched entries, the fallback ranking and the breaker live in the cache.
        caches["default"].clear()
        FixedAnswerBackend.items = []


class WidgetShowsTheModelsAnswer(RecommendationsTestCase):
    def test_the_home_page_shows_what_the_model_answers(self):
        first, second, _ = make_product(), make_product(), make_product()
        FixedAnswerBackend.items = [str(second.pk), str(first.pk)]
        customer = make_customer()
        self.client.force_login(customer)

        response = self.client.get("/")

        self.assertEqual(widget_item_ids(response)[:2], [str(second.pk), str(first.pk)])
        self.assertContains(response, 'data-source="model"')

    def test_recommend_answers_without_a_page(self):
        product = make_product()
        FixedAnswerBackend.items = [str(product.pk)]

        answer = recommend(make_customer(), limit=1)

        self.assertEqual(answer.source, "model")
        self.assertEqual([item.product for item in answer.items], [product])

    def test_a_prefetched_entry_is_what_the_page_shows(self):
        product = make_product()
        make_product()
        customer = make_customer()
        FixedAnswerBackend.items = [str(product.pk)]
        prefetch_user(customer.pk)  # what a worker does ahead of the page
        FixedAnswerBackend.items = []  # the page must not ask the endpoint again

        self.assertEqual(recommend(customer, limit=1).items[0].product, product)


class TheFallbackAlone(RecommendationsTestCase):
    @override_settings(RECOMMENDATIONS={**TEST_RECOMMENDATIONS, "HOLDOUT_SHARE": 1.0})
    def test_every_customer_gets_the_fallback_ranking(self):
        popular, other = make_product(), make_product()
        for _ in range(3):
            make_order(make_customer(), [popular])
        make_order(make_customer(), [other])
        refresh_fallback()  # the hourly task, run in the test

        answer = recommend(make_customer(), limit=2)

        self.assertEqual(answer.source, "fallback")
        self.assertEqual([item.product for item in answer.items], [popular, other])

    @override_settings(
        RECOMMENDATIONS={
            **TEST_RECOMMENDATIONS,
            "BACKEND": "tests.repo.test_docs_testing_recipes.DownBackend",
        }
    )
    def test_the_page_works_while_the_endpoint_is_down(self):
        make_product()
        self.client.force_login(make_customer())

        with self.assertLogs("recommendations.service", "WARNING"):
            response = self.client.get("/")

        self.assertEqual(response.status_code, 200)
        self.assertContains(response, 'data-source="fallback"')


class PurchasesReachTheApp(RecommendationsTestCase):
    def setUp(self):
        super().setUp()
        # Celery reads its settings once: turn eager mode on for these tests only.
        celery_app.conf.task_always_eager = True
        self.addCleanup(setattr, celery_app.conf, "task_always_eager", False)

    def test_the_checkout_sends_purchase_completed(self):
        product = make_product()
        customer = make_customer()
        sent = []

        def spy(sender, **kwargs):
            sent.append(kwargs)

        purchase_completed.connect(spy)
        self.addCleanup(purchase_completed.disconnect, spy)
        with self.captureOnCommitCallbacks(execute=True):
            place_order(customer, {product.pk: 1})

        self.assertEqual(sent[0]["user"], customer)
        self.assertEqual(sent[0]["item_ids"], [str(product.pk)])

    def test_a_bought_item_leaves_the_widget(self):
        bought, other = make_product(), make_product()
        customer = make_customer()
        FixedAnswerBackend.items = [str(bought.pk), str(other.pk)]
        self.assertEqual(recommend(customer, limit=1).items[0].product, bought)

        with self.captureOnCommitCallbacks(execute=True):
            place_order(customer, {bought.pk: 1})

        self.assertEqual(recommend(customer, limit=1).items[0].product, other)


def _page_blocks() -> list[str]:
    return [textwrap.dedent(block) for block in PYTHON_BLOCK.findall(PAGE.read_text())]


def _contains_lines(source: str, block: str) -> bool:
    """Whether `block`'s lines appear in `source` together, in order, at any one indentation."""
    wanted = block.strip("\n").splitlines()
    lines = source.splitlines()
    return any(
        textwrap.dedent("\n".join(lines[start : start + len(wanted)])).splitlines() == wanted
        for start in range(len(lines) - len(wanted) + 1)
    )


def test_the_pages_backends_are_the_ones_tested_here():
    source = Path(__file__).read_text()
    # From the class statement on: the page's imports are checked below.
    backends = [block[block.index("class ") :] for block in _page_blocks() if "(Backend):" in block]
    assert len(backends) == 2
    for block in backends:
        assert _contains_lines(source, block), f"not as in {Path(__file__).name}:\n{block}"


def test_the_pages_imports_of_the_app_import():
    # The page's own imports (shop.tests...) name a shop that is not here; the app's must work.
    imports = [
        node
        for block in _page_blocks()
        for node in ast.walk(ast.parse(block))
        if isinstance(node, ast.ImportFrom) and node.module.startswith("recommendations")
    ]
    assert imports, "the page imports nothing from the app"
    for node in imports:
        module = importlib.import_module(node.module)
        for alias in node.names:
            assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"


def test_the_pages_settings_are_settings():
    keys = set()
    for block in _page_blocks():
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Assign | ast.keyword) and _names(node) == {"RECOMMENDATIONS"}:
                keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    assert keys, "the page sets no RECOMMENDATIONS"
    assert keys <= set(DEFAULTS), keys - set(DEFAULTS)


def _names(node: ast.Assign | ast.keyword) -> set[str]:
    if isinstance(node, ast.keyword):
        return {node.arg}
    return {target.id for target in node.targets if isinstance(target, ast.Name)}
