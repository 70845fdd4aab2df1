"""The page's products query (recommendations/products/lookup.py): the available products among
the keys, in one query, with keys the primary key column cannot hold left out.

Every test compares the answer with what the ORM itself returns for the same keys, on the test
database of the pass (SQLite, or PostgreSQL with TEST_DB=postgres).
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from recommendations.catalog import CatalogAdapter
from recommendations.products import lookup as product_lookup
from tests.app.shop.catalog import ShopCatalog
from tests.app.shop.models import Category, Product

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize("count", [1, 7, 8, 9, 16, 17, 64, 80])
def test_the_products_are_the_available_ones_among_the_keys(products, count):
    catalog = ShopCatalog()
    pks = [p.pk for p in products[:count]]
    found = product_lookup.products_by_pks(catalog, pks)
    assert sorted(p.pk for p in found) == orm_answer(catalog, pks)
    # Unavailable products (out of stock, inactive) are among the asked-for keys and left out.
    assert len(found) < count or count < 7


def test_one_query_per_call(products):
    catalog = ShopCatalog()
    with CaptureQueriesContext(connection) as queries:
        product_lookup.products_by_pks(catalog, [p.pk for p in products[:10]])
    assert len(queries) == 1


def test_instances_load_only_what_the_widget_shows(products):
    catalog = ShopCatalog()
    [product] = product_lookup.products_by_pks(catalog, [products[0].pk])
    assert product.price == Decimal("1.49")
    assert "description" in product.get_deferred_fields()
    # A deferred field still loads on access.
    assert product.description == "Long text 1"


def test_duplicates_unknown_keys_and_empty_lists(products):
    catalog = ShopCatalog()
    pk = products[1].pk
    found = product_lookup.products_by_pks(catalog, [pk, pk, 10**9])
    assert [p.pk for p in found] == [pk]
    assert product_lookup.products_by_pks(catalog, []) == []


def test_a_settings_change_applies_to_the_next_query(products):
    pks = [p.pk for p in products[:12]]
    default = CatalogAdapter()
    with override_settings(
        RECOMMENDATIONS={"PRODUCT_MODEL": "shop.Product", "AVAILABLE_FILTER": {}}
    ):
        assert len(product_lookup.products_by_pks(default, pks)) == 12
    with override_settings(
        RECOMMENDATIONS={
            "PRODUCT_MODEL": "shop.Product",
            "AVAILABLE_FILTER": {"is_active": True, "stock__gt": 0},
        }
    ):
        found = product_lookup.products_by_pks(default, pks)
    assert sorted(p.pk for p in found) == orm_answer(ShopCatalog(), pks)
    assert len(found) < 12


class PassThroughCatalog(ShopCatalog):
    """An adapter that hands the wire id to the ORM as it is (Django turns "12" into 12 itself),
    as a shop may well write it: an id that is no integer then reaches the products query."""

    def pk_from_item_id(self, item_id):
        return item_id


# Keys an endpoint can make us ask for that no integer primary key column can hold: past 64 bits
# either way (SQLite refuses them with OverflowError), and text (the ORM raises ValueError,
# PostgreSQL refuses them with DataError and aborts the transaction).
UNHOLDABLE_KEYS = [2**63, 2**70, -(2**63) - 1, "abc", "12abc", "", None, 1.5]


@pytest.mark.parametrize("bad", UNHOLDABLE_KEYS, ids=repr)
@pytest.mark.parametrize("count", [3, 70])
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
    with override_settings(RECOMMENDATIONS={"PRODUCT_MODEL": "shop.Product"}):
        catalog = CatalogAdapter()
        assert catalog.pk_from_item_id(item_id) is None
        assert catalog.pk_from_item_id(str(2**63 - 1)) == 2**63 - 1
        assert catalog.pk_from_item_id("12") == 12
