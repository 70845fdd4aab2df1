"""The page's products query compiled once and reused (recommendations/products/lookup.py).

Every test compares the reused query with what the ORM itself returns for the same keys, on the
test database of the pass (SQLite, or PostgreSQL with TEST_DB=postgres).
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from demo_shop.catalog.models import Category, Product
from demo_shop.catalog.recommendations import DemoCatalog
from recommendations.catalog import CatalogAdapter
from recommendations.products import lookup as product_lookup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_compiled_queries():
    product_lookup._compiled.clear()
    yield
    product_lookup._compiled.clear()


@pytest.fixture
def products():
    category = Category.objects.create(name="Kitchen", slug="kitchen", hue=10)
    made = Product.objects.bulk_create(
        Product(
            category=category,
            name=f"Product {n}",
            slug=f"product-{n}",
            description=f"Long text {n}",
            price=Decimal(f"{n}.49"),
            stock=0 if n % 7 == 0 else 5,
            is_active=n % 11 != 0,
        )
        for n in range(1, 101)
    )
    return list(Product.objects.order_by("pk"))[: len(made)]


def orm_answer(catalog, pks):
    return sorted(p.pk for p in catalog.widget_products().filter(pk__in=pks))


@pytest.mark.parametrize("count", [1, 7, 8, 9, 16, 17, 64])
def test_the_reused_query_answers_as_the_orm_does(products, count):
    catalog = DemoCatalog()
    pks = [p.pk for p in products[:count]]
    found = product_lookup.products_by_pks(catalog, pks)
    assert sorted(p.pk for p in found) == orm_answer(catalog, pks)
    # Unavailable products (out of stock, inactive) are among the asked-for keys and left out.
    assert len(found) < count or count < 7


def test_the_query_is_compiled_once_per_size_and_run_once_per_call(products):
    catalog = DemoCatalog()
    first = [p.pk for p in products[:10]]
    second = [p.pk for p in products[20:32]]
    with CaptureQueriesContext(connection) as queries:
        a = product_lookup.products_by_pks(catalog, first)
        b = product_lookup.products_by_pks(catalog, second)
    assert len(queries) == 2
    [compiled] = product_lookup._compiled.values()  # both lists padded to 16 keys
    assert compiled is not None and len(compiled.key_positions) == 16
    assert queries[0]["sql"].count("%s") == 0  # executed SQL, not the template
    assert sorted(p.pk for p in a) == orm_answer(catalog, first)
    assert sorted(p.pk for p in b) == orm_answer(catalog, second)


def test_instances_are_as_the_orm_makes_them(products):
    catalog = DemoCatalog()
    pk = products[0].pk
    [product] = product_lookup.products_by_pks(catalog, [pk])
    reference = catalog.widget_products().get(pk=pk)
    assert isinstance(product.price, Decimal)
    assert product.price == reference.price == Decimal("1.49")
    assert product.name == reference.name
    assert product.category_id == reference.category_id
    assert product._state.adding is False
    assert product._state.db == "default"
    assert product.get_deferred_fields() == reference.get_deferred_fields()
    assert "description" in product.get_deferred_fields()
    # A deferred field still loads on access.
    assert product.description == "Long text 1"


def test_duplicates_unknown_keys_and_empty_lists(products):
    catalog = DemoCatalog()
    pk = products[1].pk
    found = product_lookup.products_by_pks(catalog, [pk, pk, 10**9])
    assert [p.pk for p in found] == [pk]
    assert product_lookup.products_by_pks(catalog, []) == []


def test_longer_lists_go_through_the_orm(products):
    catalog = DemoCatalog()
    pks = [p.pk for p in products[:80]]
    assert sorted(p.pk for p in product_lookup.products_by_pks(catalog, pks)) == orm_answer(
        catalog, pks
    )
    assert product_lookup._compiled == {}


class TimedCatalog(CatalogAdapter):
    """A shop whose availability depends on the time: its SQL must not be reused."""

    def available_products(self):
        return Product.objects.filter(created_at__lte=timezone.now())


@override_settings(RECOMMENDATIONS={"PRODUCT_MODEL": "catalog.Product"})
def test_an_overridden_filter_is_not_reused_unless_the_adapter_says_so(products):
    catalog = TimedCatalog()
    assert catalog.reuses_compiled_query() is False
    pks = [p.pk for p in products[:5]]
    assert len(product_lookup.products_by_pks(catalog, pks)) == 5
    assert product_lookup._compiled == {}
    assert CatalogAdapter().reuses_compiled_query() is True
    assert DemoCatalog().reuses_compiled_query() is True


class HugeStockCatalog(CatalogAdapter):
    """A filter parameter that equals a sentinel key: the positions are ambiguous."""

    reuse_compiled_query = True

    def available_products(self):
        return Product.objects.filter(stock__lt=product_lookup._SENTINEL_BASE)


@override_settings(RECOMMENDATIONS={"PRODUCT_MODEL": "catalog.Product"})
def test_a_parameter_that_looks_like_a_key_is_left_alone(products):
    catalog = HugeStockCatalog()
    for chunk in (products[:5], products[40:45]):
        pks = [p.pk for p in chunk]
        assert sorted(p.pk for p in product_lookup.products_by_pks(catalog, pks)) == pks
    [compiled] = product_lookup._compiled.values()
    # SQLite gets the filter's parameter as a plain int, equal to a sentinel: no reuse. psycopg
    # gets it typed (Int4), told apart from the keys: reused, with only the keys replaced.
    assert compiled is None or len(compiled.key_positions) == 8


def test_a_settings_change_drops_the_compiled_queries(products):
    pks = [p.pk for p in products[:12]]
    default = CatalogAdapter()
    with override_settings(
        RECOMMENDATIONS={"PRODUCT_MODEL": "catalog.Product", "AVAILABLE_FILTER": {}}
    ):
        assert len(product_lookup.products_by_pks(default, pks)) == 12
    with override_settings(
        RECOMMENDATIONS={
            "PRODUCT_MODEL": "catalog.Product",
            "AVAILABLE_FILTER": {"is_active": True, "stock__gt": 0},
        }
    ):
        found = product_lookup.products_by_pks(default, pks)
    assert sorted(p.pk for p in found) == orm_answer(DemoCatalog(), pks)
    assert len(found) < 12


class PassThroughCatalog(DemoCatalog):
    """An adapter that hands the wire id to the ORM as it is (Django turns "12" into 12 itself),
    as a shop may well write it: an id that is no integer then reaches the products query."""

    def pk_from_item_id(self, item_id):
        return item_id


# Keys an endpoint can make us ask for that no integer primary key column can hold: past 64 bits
# either way (SQLite refuses them with OverflowError), and text (the ORM raises ValueError,
# PostgreSQL refuses the reused SQL with DataError and aborts the transaction).
UNHOLDABLE_KEYS = [2**63, 2**70, -(2**63) - 1, "abc", "12abc", "", None, 1.5]


@pytest.mark.parametrize("bad", UNHOLDABLE_KEYS, ids=repr)
@pytest.mark.parametrize("count", [3, 70], ids=["reused-query", "orm"])
def test_keys_the_database_cannot_hold_are_dropped_like_unknown_ones(products, bad, count):
    catalog = PassThroughCatalog()
    pks = [p.pk for p in products[:count]]
    found = product_lookup.products_by_pks(catalog, [bad, *pks, bad])
    assert sorted(p.pk for p in found) == orm_answer(catalog, pks)


def test_keys_given_as_digits_still_find_their_products(products):
    catalog = PassThroughCatalog()
    pks = [p.pk for p in products[:3]]
    found = product_lookup.products_by_pks(catalog, [str(pk) for pk in pks])
    assert sorted(p.pk for p in found) == orm_answer(catalog, pks)


@pytest.mark.parametrize("item_id", [str(2**63), str(2**70), str(-(2**63) - 1), "abc", "1.5", ""])
def test_the_default_adapter_reads_no_key_from_an_id_the_column_cannot_hold(item_id):
    with override_settings(RECOMMENDATIONS={"PRODUCT_MODEL": "catalog.Product"}):
        catalog = CatalogAdapter()
        assert catalog.pk_from_item_id(item_id) is None
        assert catalog.pk_from_item_id(str(2**63 - 1)) == 2**63 - 1
        assert catalog.pk_from_item_id("12") == 12
