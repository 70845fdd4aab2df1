"""Cached pages show products from the process's snapshot (recommendations/serving/product_snapshot.py):
no query while the catalog's version stays, and a change reported any way it can be (a save, a
purchase, `catalog_changed()`, another process's new version, the time bound) is shown."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from recommendations.prefetch import entries
from recommendations.service import recommend
from recommendations.serving import product_snapshot
from recommendations.signals import purchase_completed
from tests.app.shop.models import Product
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

LIMIT = 8
RANKING = [str(pk) for pk in range(1, 17)]


@pytest.fixture
def customer(rf):
    """A customer with a prefetched entry, and a request of theirs."""
    _, users = make_shop()
    entries.write_entry(users[0].pk, RANKING, "v-cached")
    request = rf.get("/")
    request.user = users[0]
    return request


def shown(request) -> list[str]:
    recommendations = recommend(request, LIMIT)
    assert recommendations.source == "model"
    return [item.item_id for item in recommendations]


def test_the_first_cached_page_loads_the_products_and_the_next_ones_run_no_query(
    customer, django_assert_num_queries
):
    shown(customer)  # the catalog has no version yet: this page creates it
    with django_assert_num_queries(1):
        first = shown(customer)
    with django_assert_num_queries(0):
        again = shown(customer)
    assert first == again == RANKING[:LIMIT]


def test_a_product_saved_out_of_stock_is_gone_from_the_next_page(
    customer, django_assert_num_queries, django_capture_on_commit_callbacks
):
    shown(customer)
    shown(customer)
    version = cache.get(product_snapshot.VERSION_KEY)
    product = Product.objects.get(pk=3)
    product.stock = 0
    with django_capture_on_commit_callbacks(execute=True):
        product.save()
    # Every process learns it from the new version; this one dropped its snapshot at once.
    assert cache.get(product_snapshot.VERSION_KEY) not in (None, version)
    with django_assert_num_queries(1):
        assert "3" not in shown(customer)


def test_another_processs_change_is_seen_through_the_version(customer, django_assert_num_queries):
    shown(customer)
    assert shown(customer) == RANKING[:LIMIT]
    # What a change in another process looks like from here: rows changed without a signal in
    # this process, and a new version in the shared cache when it committed.
    Product.objects.filter(pk=2).update(is_active=False)
    Product.objects.filter(pk=5).update(name="Renamed")
    cache.set(product_snapshot.VERSION_KEY, 12345, None)
    with django_assert_num_queries(1):
        recommendations = recommend(customer, LIMIT)
    names = {item.item_id: item.name for item in recommendations}
    assert "2" not in names
    assert names["5"] == "Renamed"


def test_catalog_changed_reports_an_update_that_sends_no_signal(
    customer, django_capture_on_commit_callbacks
):
    shown(customer)
    shown(customer)
    Product.objects.filter(pk=4).update(stock=0)
    assert "4" in shown(customer)  # unreported: the snapshot still holds it
    with django_capture_on_commit_callbacks(execute=True):
        product_snapshot.catalog_changed()
    assert "4" not in shown(customer)


def test_a_purchase_starts_the_snapshots_again(customer, django_capture_on_commit_callbacks):
    shown(customer)
    version = cache.get(product_snapshot.VERSION_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        # A checkout takes stock with update(): no post_save, only the app's signal.
        Product.objects.filter(pk=6).update(stock=0)
        purchase_completed.send(sender=None, user=customer.user, item_ids=["6"])
    assert cache.get(product_snapshot.VERSION_KEY) != version
    entries.write_entry(customer.user.pk, RANKING, "v-cached")  # the purchase dropped it
    assert "6" not in shown(customer)


def test_an_unreported_change_shows_within_the_snapshots_lifetime(customer, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(product_snapshot.time, "monotonic", lambda: now[0])
    shown(customer)
    shown(customer)
    Product.objects.filter(pk=7).update(stock=0)
    now[0] += 9.0
    assert "7" in shown(customer)
    now[0] += 1.0  # PRODUCT_SNAPSHOT_SECONDS (10 s) after the snapshot was taken
    assert "7" not in shown(customer)


def test_zero_seconds_loads_the_products_on_every_page(customer, django_assert_num_queries):
    settings = {**_recommendations(), "PRODUCT_SNAPSHOT_SECONDS": 0}
    with override_settings(RECOMMENDATIONS=settings):
        for _ in range(3):
            with django_assert_num_queries(1):
                shown(customer)
        assert cache.get(product_snapshot.VERSION_KEY) is None


def test_without_a_version_nothing_is_trusted(customer, django_assert_num_queries):
    shown(customer)
    shown(customer)
    # The cache lost the version (evicted, Redis restarted): the page loads its products.
    cache.delete(product_snapshot.VERSION_KEY)
    Product.objects.filter(pk=1).update(stock=0)
    with django_assert_num_queries(1):
        assert "1" not in shown(customer)
    assert cache.get(product_snapshot.VERSION_KEY)  # created again for the next pages


def test_pages_without_a_cache_read_load_their_products(rf, django_assert_num_queries):
    """The holdout and anonymous visitors read no version, so they never use a snapshot."""
    make_shop()
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    request.user = AnonymousUser()
    recommend(request, LIMIT)
    Product.objects.filter(pk__in=range(1, 40)).update(stock=0)
    recommendations = recommend(request, LIMIT)
    assert all(int(item.item_id) >= 40 for item in recommendations)


def _recommendations() -> dict:
    from django.conf import settings

    return dict(settings.RECOMMENDATIONS)


def test_a_new_snapshot_loads_what_the_old_one_knew_in_one_query(
    customer, rf, django_assert_num_queries
):
    from django.contrib.auth import get_user_model

    other = rf.get("/")
    other.user = get_user_model().objects.exclude(pk=customer.user.pk).first()
    entries.write_entry(other.user.pk, RANKING[8:] + RANKING[:8], "v-cached")
    shown(customer)
    shown(customer)
    shown(other)
    cache.set(product_snapshot.VERSION_KEY, 777, None)  # the catalog changed elsewhere
    with django_assert_num_queries(1):
        shown(customer)  # loads the customer's products and those the other page showed
    with django_assert_num_queries(0):
        shown(other)
