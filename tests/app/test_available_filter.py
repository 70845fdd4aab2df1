"""AVAILABLE_FILTER as a `Q` object or a callable's dotted path: the default adapter shows only
the products it lets through, on a page served from the fallback and in a model's cached answer."""

import re

import pytest
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.test import override_settings
from django.urls import reverse

from recommendations import service
from recommendations.catalog import CatalogAdapter
from recommendations.prefetch import entries
from tests.app.shop.models import Category, Product
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

ITEM = re.compile(r'data-item-id="([^"]+)"')

# make_shop puts product pk in category pk % 6, whose hue is 30 * (pk % 6): a warm category is
# one of hue 60 or more, so products with pk % 6 in {0, 1} are in a cold one.
WARM_CATEGORY = Exists(Category.objects.filter(pk=OuterRef("category_id"), hue__gte=60))


def in_a_warm_category_and_in_stock(products):
    """A callable AVAILABLE_FILTER: it gets `Product._default_manager.all()`."""
    assert products.model is Product and not products.query.where
    return products.filter(WARM_CATEGORY, stock__gt=0)


FILTERS = {
    "q": Q(WARM_CATEGORY) & Q(stock__gt=0),
    "callable": f"{__name__}.in_a_warm_category_and_in_stock",
}


def default_adapter(**overrides: object) -> dict:
    """The default adapter on the test shop's product model, with no endpoint."""
    base = {k: v for k, v in settings.RECOMMENDATIONS.items() if k != "ENDPOINT_NAME"}
    return {
        **base,
        "BACKEND": "none",
        "CATALOG": "recommendations.catalog.CatalogAdapter",
        "PRODUCT_MODEL": "shop.Product",
        **overrides,
    }


@pytest.fixture
def shop_with_gaps(empty_cache):
    """The test shop with the two newest warm products out of stock."""
    _, users = make_shop()
    Product.objects.filter(pk__in=[59, 58]).update(stock=0)
    return users


def allowed(pk: int) -> bool:
    return pk % 6 not in (0, 1) and pk not in (58, 59)


@pytest.mark.parametrize("form", FILTERS)
def test_the_page_shows_only_the_products_the_filter_lets_through(client, shop_with_gaps, form):
    with override_settings(RECOMMENDATIONS=default_adapter(AVAILABLE_FILTER=FILTERS[form])):
        client.force_login(shop_with_gaps[0])
        html = client.get(reverse("home")).content.decode()
    shown = [int(item_id) for item_id in ITEM.findall(html)]
    # No fallback computed yet: the newest available products, newest first.
    assert shown == sorted(pk for pk in range(1, 61) if allowed(pk))[::-1][:8]


@pytest.mark.parametrize("form", FILTERS)
def test_a_cached_model_answer_loses_the_products_the_filter_keeps_out(shop_with_gaps, form):
    user = shop_with_gaps[0]
    entries.write_entry(user.pk, [str(pk) for pk in range(50, 61)], "v1")
    overrides = {"AVAILABLE_FILTER": FILTERS[form], "BACKEND": "sagemaker"}
    with override_settings(
        RECOMMENDATIONS=default_adapter(ENDPOINT_NAME="shop-recommender", **overrides)
    ):
        answer = service.recommend(user, 8)
    from_model = [int(item.item_id) for item in answer if item.source == "model"]
    assert from_model == [pk for pk in range(50, 61) if allowed(pk)]


@pytest.mark.parametrize("form", FILTERS)
def test_the_default_adapter_counts_the_same_products_as_the_orm(shop_with_gaps, form):
    with override_settings(RECOMMENDATIONS=default_adapter(AVAILABLE_FILTER=FILTERS[form])):
        found = sorted(CatalogAdapter().available_products().values_list("pk", flat=True))
    assert found == [pk for pk in range(1, 61) if allowed(pk)]
