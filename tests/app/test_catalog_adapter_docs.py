"""The code of docs/catalog-adapter.md and of installation.md's purchase signal, run against the test
shop: the example adapter keeps the contract's types and leaves no feature off, and the receiver
sends `purchase_completed` with the wire ids once the order is committed."""

import re
import sys
import types
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from recommendations.checks import check_catalog
from recommendations.signals import purchase_completed
from tests.app.shop.models import Order, OrderLine
from tests.support.shop_data import make_shop

DOCS = Path(__file__).resolve().parents[2] / "docs"
ADAPTER_MODULE = "tests.app.documented_catalog"


def python_block(page: str, heading: str, marker: str) -> str:
    """The first ```python block under `heading` that contains `marker`."""
    section = (DOCS / page).read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    (block,) = [block for block in blocks if marker in block]
    # The page's shop app is `shop`, with a models module beside it: the test shop's is here.
    return block.replace("from .models import", "from tests.app.shop.models import")


def module_from(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - the docs' own code
    return module


@pytest.fixture(scope="module")
def documented():
    """The documented adapter, importable by its dotted path as CATALOG names it."""
    source = python_block("catalog-adapter.md", "## An adapter for orders and order lines", "class")
    sys.modules[ADAPTER_MODULE] = module_from(ADAPTER_MODULE, source)
    yield sys.modules[ADAPTER_MODULE]
    del sys.modules[ADAPTER_MODULE]


def with_documented_catalog():
    return override_settings(
        RECOMMENDATIONS={**settings.RECOMMENDATIONS, "CATALOG": f"{ADAPTER_MODULE}.ShopCatalog"}
    )


def test_the_documented_adapter_leaves_no_feature_off(documented):
    with with_documented_catalog():
        assert check_catalog() == []


def order(user, products, quantities, minutes_ago):
    placed = Order.objects.create(
        user=user, created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    for product, quantity in zip(products, quantities, strict=True):
        OrderLine.objects.create(
            order=placed, product=product, quantity=quantity, unit_price=Decimal("9.50")
        )
    return placed


@pytest.mark.django_db
def test_the_documented_adapter_keeps_the_contracts_types(documented):
    products, users = make_shop()
    first = order(users[0], products[:2], [1, 3], minutes_ago=30)
    second = order(users[1], products[2:3], [2], minutes_ago=20)
    third = order(users[0], products[4:5], [1], minutes_ago=10)
    catalog = documented.ShopCatalog()

    (chunk,) = list(catalog.interaction_chunks())
    dtypes = [array.dtype for array in chunk]
    assert dtypes == [np.int64, np.int64, np.float32, np.float64]
    assert chunk.user_ids.tolist() == [users[0].pk, users[0].pk, users[1].pk, users[0].pk]
    assert chunk.item_ids.tolist() == [products[i].pk for i in (0, 1, 2, 4)]
    assert chunk.weights.tolist() == [1, 3, 2, 1]
    expected = [o.created_at.timestamp() for o in (first, first, second, third)]
    assert chunk.timestamps.tolist() == pytest.approx(expected)

    line_ids = list(OrderLine.objects.order_by("pk").values_list("pk", flat=True))
    keyed = list(catalog.interaction_chunks_after(line_ids[1], chunk_size=1))
    assert [k.ids.tolist() for k in keyed] == [[line_ids[2]], [line_ids[3]]]
    assert all(k.ids.dtype == np.int64 for k in keyed)

    assert catalog.purchased_item_ids(users[0].pk) == {str(products[i].pk) for i in (0, 1, 4)}
    assert catalog.purchased_item_ids_for([users[1].pk, users[2].pk]) == {
        users[1].pk: {str(products[2].pk)},
        users[2].pk: set(),
    }
    history = catalog.user_history(users[0].pk, recent_limit=2)
    assert history.recent == [str(products[4].pk), str(products[1].pk)]  # newest first
    assert catalog.hidden_items(users[0].pk) == dict.fromkeys(history.purchased)
    since = timezone.now() - timedelta(hours=1)
    assert catalog.active_user_id_page(since, after=0, limit=1) == [users[0].pk]
    assert catalog.active_user_id_page(since, after=users[0].pk, limit=5) == [users[1].pk]


@pytest.mark.django_db
def test_the_documented_receiver_sends_the_wire_ids_after_commit(
    django_capture_on_commit_callbacks,
):
    source = python_block("installation.md", "## Tell the app about your shop", "on_commit")
    receiver = module_from("tests.app.documented_signals", source).order_placed_receiver
    products, users = make_shop()
    sent = []

    def spy(sender, user, item_ids, **kwargs):
        sent.append((sender, user, sorted(item_ids)))

    purchase_completed.connect(spy)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            placed = order(users[0], products[3:5], [1, 1], minutes_ago=0)
            receiver(sender=Order, order=placed)
            assert sent == []  # not before the checkout's transaction commits
    finally:
        purchase_completed.disconnect(spy)
    assert sent == [(Order, users[0], sorted(str(p.pk) for p in products[3:5]))]
