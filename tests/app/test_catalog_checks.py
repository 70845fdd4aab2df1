"""The checks of the catalog adapter: the features a minimal adapter leaves off (W005), the names the
default describe() cannot find (W006), and AVAILABLE_FILTER's three forms (E029)."""

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.test import override_settings

from recommendations.catalog import CatalogAdapter
from recommendations.checks import check_catalog, check_settings
from recommendations.conf.defaults import KINDS
from tests.app.shop.catalog import ShopCatalog
from tests.app.shop.models import Category

MINIMAL = "recommendations.catalog.CatalogAdapter"


def shop_settings(**overrides: object) -> dict:
    return {**settings.RECOMMENDATIONS, **overrides}


def catalog_messages(**overrides: object) -> list:
    with override_settings(RECOMMENDATIONS=shop_settings(**overrides)):
        return check_catalog()


def states(messages: list) -> list[str]:
    """Each W005 message's first words: the feature it says is off."""
    return [m.msg.split(":")[0] for m in messages if m.id == "recommendations.W005"]


# --- W005: the features a minimal adapter leaves off -----------------------------------------


def test_a_minimal_adapter_names_each_feature_that_is_off_with_the_method_to_add():
    messages = catalog_messages(CATALOG=MINIMAL)
    assert {m.id for m in messages} == {"recommendations.W005"}
    assert states(messages) == [
        "Exclusions are off",
        "The fallback ranking is off",
        "Prefetching is off",
        "The export is off",
    ]
    exclusions, fallback, prefetch, export = messages
    assert "no purchased_item_ids()" in exclusions.msg
    assert "purchased_item_ids(user_id)" in exclusions.hint
    assert "no interaction_chunks()" in fallback.msg and "nor user_history()" in fallback.msg
    assert "interaction_chunks(since, chunk_size) and user_history(" in fallback.hint
    assert "active_user_id_page(since, after, limit)" in prefetch.hint
    assert "interaction_chunks_after(after_id, chunk_size)" in export.hint
    for message in messages:
        assert message.obj == MINIMAL
        assert "RECOMMENDATIONS['CATALOG']" in message.hint
        assert "docs/catalog-adapter.md" in message.hint


def test_the_complete_adapters_of_the_test_shop_are_clean():
    assert catalog_messages() == []
    assert catalog_messages(CATALOG="tests.app.test_catalog_contract.LiteralCatalog") == []


def test_without_an_endpoint_prefetching_is_not_named():
    # BACKEND "none" prefetches no one whatever the adapter has.
    assert "Prefetching is off" not in states(catalog_messages(CATALOG=MINIMAL, BACKEND="none"))


def test_with_a_drift_baseline_the_report_is_named_too():
    found = states(catalog_messages(CATALOG=MINIMAL, DRIFT_BASELINE="/srv/drift.json.gz"))
    assert found[-1] == "The drift report is wrong"
    assert catalog_messages(DRIFT_BASELINE="/srv/drift.json.gz") == []


class PurchasesOnly(CatalogAdapter):
    def purchased_item_ids(self, user_id: int) -> set[str]:
        return set()


class HiddenItemsOnly(CatalogAdapter):
    def hidden_items(self, user_id: int) -> dict[str, float | None]:
        return {}


class RecentAndInteractions(CatalogAdapter):
    recent_item_ids = ShopCatalog.recent_item_ids
    user_history = CatalogAdapter.user_history  # the default, which asks recent_item_ids
    interaction_chunks = ShopCatalog.interaction_chunks


class OwnBase(ShopCatalog):
    """A shop's adapter that inherits its methods from a class of the shop's own."""


@pytest.mark.parametrize(
    ("adapter", "expected"),
    [
        (PurchasesOnly, ["The fallback ranking is off", "Prefetching is off", "The export is off"]),
        (
            HiddenItemsOnly,
            ["The fallback ranking is off", "Prefetching is off", "The export is off"],
        ),
        (RecentAndInteractions, ["Exclusions are off", "Prefetching is off", "The export is off"]),
        (OwnBase, []),
    ],
)
def test_each_method_or_its_alternative_turns_its_feature_on(adapter, expected):
    path = f"{__name__}.{adapter.__name__}"
    messages = catalog_messages(CATALOG=path)
    assert states(messages) == expected
    assert all(m.hint.startswith("Add ") for m in messages)  # a subclass: add to it


def test_history_without_interactions_leaves_the_fallback_personal_but_empty():
    class HistoryOnly(CatalogAdapter):
        user_history = ShopCatalog.user_history

    with override_settings(RECOMMENDATIONS=shop_settings()):
        from recommendations.checks.catalog import features_off

        (fallback,) = [m for m in features_off("shop.History", HistoryOnly) if "fallback" in m.msg]
    assert "no interaction_chunks()" in fallback.msg
    assert "user_history" not in fallback.msg


@pytest.mark.django_db  # Django 6.1's `check` also runs the database checks (JSONField support)
def test_manage_py_check_lists_the_features_that_are_off_as_warnings():
    out, err = StringIO(), StringIO()
    with override_settings(RECOMMENDATIONS=shop_settings(CATALOG=MINIMAL)):
        call_command("check", stdout=out, stderr=err)  # warnings: no SystemCheckError
    listing = err.getvalue()
    assert listing.count("(recommendations.W005)") == 4
    assert f"{MINIMAL}: (recommendations.W005) Exclusions are off" in listing


def test_a_broken_catalog_setting_is_left_to_its_own_error():
    assert catalog_messages(CATALOG="no.such.Catalog") == []  # E006
    with override_settings(RECOMMENDATIONS="endpoint"):
        assert check_catalog() == []  # E001


# --- W006: the names the default describe() reads --------------------------------------------


class TitledProduct(models.Model):
    """A product model whose name and price are properties (as Oscar's are methods elsewhere)."""

    title = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        abstract = True  # never in the app registry: only its names are looked at
        app_label = "shop"

    def get_absolute_url(self) -> str:
        return "/product/"

    @property
    def name(self) -> str:
        return self.title

    @property
    def price(self):
        return self.amount

    def get_image_url(self) -> str:
        return "/image.png"


class TitledCatalog(ShopCatalog):
    def get_product_model(self):
        return TitledProduct


class DescribingCatalog(CatalogAdapter):
    def describe(self, product):
        return {"name": product.name, "url": None, "price": None, "image_url": None}


def test_the_default_describe_names_what_it_cannot_find_on_the_product_model():
    messages = catalog_messages(CATALOG=MINIMAL, PRODUCT_MODEL="shop.Category")
    (message,) = [m for m in messages if m.id == "recommendations.W006"]
    assert message.obj is Category
    # Category has a `name` field, and neither price nor image nor URL.
    assert "finds no price, get_image_url or get_absolute_url on shop.Category" in message.msg
    assert "no price, no image and no link to the product" in message.msg
    assert "override describe()" in message.hint


def test_fields_properties_and_methods_all_count():
    assert catalog_messages() == []  # shop.Product: fields name and price, two methods
    assert catalog_messages(CATALOG=f"{__name__}.TitledCatalog") == []  # properties


def test_an_adapter_with_its_own_describe_is_not_second_guessed():
    messages = catalog_messages(
        CATALOG=f"{__name__}.DescribingCatalog", PRODUCT_MODEL="shop.Category"
    )
    assert "recommendations.W006" not in {m.id for m in messages}


def test_no_product_model_is_left_to_e014():
    messages = catalog_messages(CATALOG=MINIMAL, PRODUCT_MODEL="shop.Nope")
    assert "recommendations.W006" not in {m.id for m in messages}


# --- E029: AVAILABLE_FILTER ------------------------------------------------------------------


def in_stock(products):
    """A callable AVAILABLE_FILTER (named by its dotted path in the tests)."""
    return products.filter(stock__gt=0)


NOT_CALLABLE = {"is_active": True}


def filter_errors(value: object) -> list:
    with override_settings(RECOMMENDATIONS=shop_settings(CATALOG=MINIMAL, AVAILABLE_FILTER=value)):
        return [m for m in check_settings() if m.id == "recommendations.E029"]


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"is_active": True, "stock__gt": 0},
        Q(is_active=True) & Q(stock__gt=0),
        Q(Exists(Category.objects.filter(pk=OuterRef("category_id"), hue__gte=60))),
        f"{__name__}.in_stock",
    ],
)
def test_a_dict_a_q_object_and_a_callables_path_are_accepted(value):
    assert filter_errors(value) == []


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (["is_active"], "a dict of QuerySet.filter() keyword arguments, a Q object"),
        ({1: True}, "a dict of QuerySet.filter() keyword arguments"),
        ("", "the dotted path of a callable"),
        ("shop.no_such_filter", "it cannot be imported (ModuleNotFoundError: No module named"),
        (f"{__name__}.no_such_filter", "it cannot be imported (ImportError: Module"),
        ("in_stock", "it cannot be imported"),
        (f"{__name__}.NOT_CALLABLE", "it names a dict, which is not callable"),
    ],
)
def test_a_wrong_filter_is_e029_at_check_time(value, said):
    (error,) = filter_errors(value)
    assert "RECOMMENDATIONS['AVAILABLE_FILTER']" in error.msg
    assert said in error.msg


@pytest.mark.django_db  # Django 6.1's `check` also runs the database checks (JSONField support)
def test_the_listing_in_the_docs_is_what_check_prints():
    page = Path(__file__).resolve().parents[2] / "docs/catalog-adapter.md"
    shown = page.read_text(encoding="utf-8").split("```text\n", 1)[1].split("```", 1)[0]
    documented = [line for line in shown.splitlines() if "W005" in line or "HINT" in line]
    out, err = StringIO(), StringIO()
    with override_settings(RECOMMENDATIONS=shop_settings(CATALOG=MINIMAL)):
        call_command("check", stdout=out, stderr=err)
    printed = err.getvalue().splitlines()
    warnings = [line for line in printed if "(recommendations.W005)" in line]
    hints = [line for line in printed if "HINT" in line and "docs/catalog-adapter.md" in line]
    assert len(documented) == 8
    assert documented == [line for pair in zip(warnings, hints, strict=True) for line in pair]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_wrong_value_of_any_setting_never_breaks_the_catalog_checks(name):
    # The setting's own error says what is wrong; these checks must still run or stay quiet.
    for value in (KINDS[name].wrong_value(), object()):
        for catalog in (MINIMAL, "tests.app.shop.catalog.ShopCatalog"):
            messages = catalog_messages(**{"CATALOG": catalog, name: value})
            assert {m.id for m in messages} <= {"recommendations.W005", "recommendations.W006"}
