"""Storing the fallback: atomic versions, failures half way, page-time query budget, task, command, admin."""

import threading
from io import StringIO

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from recommendations import tasks
from recommendations.catalog import get_catalog
from recommendations.conf import app_settings
from recommendations.fallback import store
from recommendations.models import FallbackRanking, FallbackVersion
from tests.support.fallback_shop import HandMadeShop

pytestmark = [pytest.mark.usefixtures("empty_cache"), pytest.mark.django_db]


@pytest.fixture
def shop() -> HandMadeShop:
    shop = HandMadeShop()
    shop.buy("ann", "tent", "stove", "mat", days_ago=3)
    shop.buy("bob", "tent", "stove", days_ago=2)
    shop.buy("cat", "novel", "bookmark", days_ago=1)
    shop.buy("dan", "tent", days_ago=1)
    return shop


def test_refresh_that_fails_while_writing_leaves_the_previous_version(shop, monkeypatch):
    first = store.refresh(now=shop.now)
    dan = shop.user("dan").pk
    before = store.ranked_item_ids(dan, limit=5)
    rows_before = FallbackRanking.objects.count()
    shop.buy("eve", "tent", "lantern")
    shop.buy("fay", "tent", "lantern")

    # A database error on the second batch of rows: the first batch has already been inserted.
    monkeypatch.setattr(store, "WRITE_BATCH", 2)
    real_bulk_create = FallbackRanking.objects.bulk_create
    calls = []

    def failing_bulk_create(objs, *args, **kwargs):
        calls.append(len(objs))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_bulk_create(objs, *args, **kwargs)

    monkeypatch.setattr(FallbackRanking.objects, "bulk_create", failing_bulk_create)
    with pytest.raises(RuntimeError, match="disk full"):
        store.refresh(now=shop.now)

    assert len(calls) == 2
    assert list(FallbackVersion.objects.values_list("pk", "is_current")) == [(first.pk, True)]
    assert FallbackRanking.objects.count() == rows_before
    caches[app_settings.CACHE_ALIAS].clear()  # a cold page after the failure reads the database
    assert store.ranked_item_ids(dan, limit=5) == before
    assert shop.id("lantern") not in before


def test_refresh_that_fails_while_reading_history_leaves_the_previous_version(shop, monkeypatch):
    first = store.refresh(now=shop.now)
    catalog_class = type(get_catalog())
    real_chunks = catalog_class.interaction_chunks

    def broken_chunks(self, since=None, chunk_size=100_000):
        yield from real_chunks(self, since, chunk_size=1)
        raise ConnectionError("database went away")

    # One line per chunk, then the connection drops: the history is read half way.
    monkeypatch.setattr(catalog_class, "interaction_chunks", broken_chunks)
    with pytest.raises(ConnectionError):
        store.refresh(now=shop.now)

    assert store.current_version() == first
    assert FallbackVersion.objects.count() == 1


def test_a_new_version_replaces_the_old_one_and_removes_it(shop):
    first = store.refresh(now=shop.now)
    second = store.refresh(now=shop.now)

    assert store.current_version() == second
    assert not FallbackVersion.objects.filter(pk=first.pk).exists()
    assert set(FallbackRanking.objects.values_list("version_id", flat=True)) == {second.pk}
    assert second.interactions == 8 and second.users == 4 and second.items == 5


def test_progress_reports_every_line_read(shop, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "FALLBACK_CHUNK_SIZE": 3}
    reported: list[int] = []

    store.refresh(progress=reported.append, now=shop.now)

    assert reported == [3, 3, 2]


def test_personalised_fallback_costs_two_queries_cold_and_none_warm(
    shop, django_assert_num_queries
):
    store.refresh(now=shop.now)
    dan = shop.user("dan").pk
    caches[app_settings.CACHE_ALIAS].clear()

    with django_assert_num_queries(2):
        cold = store.ranked_item_ids(dan, limit=4)
    with django_assert_num_queries(0):
        warm = store.ranked_item_ids(dan, limit=4, exclude=cold[:1])

    assert cold[0] == shop.id("stove")
    assert warm == [i for i in cold if i != cold[0]][:4]
    # Another user while the version is cached: still two queries, then none.
    with django_assert_num_queries(2):
        store.ranked_item_ids(shop.user("ann").pk, limit=4)
    with django_assert_num_queries(0):
        store.ranked_item_ids(shop.user("ann").pk, limit=4)


def test_popularity_costs_one_query_cold_and_none_warm(shop, django_assert_num_queries):
    store.refresh(now=shop.now)
    stranger = shop.user("stranger").pk
    caches[app_settings.CACHE_ALIAS].clear()

    with django_assert_num_queries(1):
        anonymous = store.ranked_item_ids(None, limit=3)
    with django_assert_num_queries(0):
        assert store.ranked_item_ids(None, limit=3) == anonymous
    with django_assert_num_queries(1):  # the stranger's (empty) history
        assert store.ranked_item_ids(stranger, limit=3) == anonymous
    with django_assert_num_queries(0):
        assert store.ranked_item_ids(stranger, limit=3) == anonymous
    category = shop.products["tent"].category_id
    with django_assert_num_queries(1):
        by_category = store.popular_item_ids(3, category=category)
    with django_assert_num_queries(0):
        assert store.popular_item_ids(3, category=category) == by_category


def test_no_version_yet_is_remembered_briefly(shop, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert store.ranked_item_ids(None, limit=3) == []
    with django_assert_num_queries(0):
        assert store.ranked_item_ids(None, limit=3) == []
    store.refresh(now=shop.now)  # publishes the new version to the cache at once
    with django_assert_num_queries(0):
        assert len(store.ranked_item_ids(None, limit=3)) == 3


def test_lists_survive_a_cache_flush(shop):
    store.refresh(now=shop.now)
    dan = shop.user("dan").pk
    before = store.ranked_item_ids(dan, limit=4)

    caches[app_settings.CACHE_ALIAS].clear()

    assert store.ranked_item_ids(dan, limit=4) == before
    assert before


def test_refresh_task_computes_a_version(shop):
    version_id = tasks.refresh_fallback.apply().get()

    assert store.current_version().pk == version_id


def test_refresh_is_skipped_while_another_one_runs(shop):
    cache = caches[app_settings.CACHE_ALIAS]
    cache.set(store.LOCK_KEY, "another-worker", 60)

    assert tasks.refresh_fallback.apply().get() is None
    with pytest.raises(CommandError, match="running"):
        call_command("recommendations_refresh_fallback", "--no-progress")
    assert store.current_version() is None
    assert cache.get(store.LOCK_KEY) == "another-worker"


def test_management_command_refreshes_and_reports(shop):
    out, err = StringIO(), StringIO()

    call_command("recommendations_refresh_fallback", stdout=out, stderr=err)

    version = store.current_version()
    assert f"Fallback version {version.pk}: 8 lines, 4 users, 5 items" in out.getvalue()
    assert store.LOCK_KEY not in caches[app_settings.CACHE_ALIAS]


def test_admin_shows_the_current_popularity_list_and_neighbours(shop, admin_client):
    version = store.refresh(now=shop.now)
    popular = FallbackRanking.objects.get(kind=FallbackRanking.Kind.POPULAR)

    listing = admin_client.get(
        reverse("admin:recommendations_fallbackranking_changelist"),
        {"q": shop.id("tent"), "kind__exact": "neighbours"},
    )
    detail = admin_client.get(
        reverse("admin:recommendations_fallbackranking_change", args=[popular.pk])
    )
    versions = admin_client.get(reverse("admin:recommendations_fallbackversion_changelist"))

    assert listing.status_code == detail.status_code == versions.status_code == 200
    assert listing.context["cl"].result_count == 1  # the tent's neighbour list
    assert b"tent" in detail.content and b"stove" in detail.content
    assert str(version).encode() in detail.content
    add = admin_client.get(reverse("admin:recommendations_fallbackranking_add"))
    assert add.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_page_during_a_refresh_sees_the_previous_ranking(monkeypatch):
    shop = HandMadeShop()
    shop.buy("ann", "tent", "stove")
    shop.buy("bob", "tent", days_ago=0.5)
    store.refresh(now=shop.now)
    bob = shop.user("bob").pk
    before = store.ranked_item_ids(bob, limit=5)
    shop.buy("cat", "tent", "lantern")
    shop.buy("dan", "tent", "lantern")
    real_bulk_create = FallbackRanking.objects.bulk_create
    seen_mid_refresh: list[list[str]] = []

    def page_view() -> None:
        # Another web process: its own database connection and a cold cache.
        try:
            caches[app_settings.CACHE_ALIAS].clear()
            seen_mid_refresh.append(store.ranked_item_ids(bob, limit=5))
        finally:
            connection.close()

    def bulk_create_then_look(objs, *args, **kwargs):
        created = real_bulk_create(objs, *args, **kwargs)
        thread = threading.Thread(target=page_view)
        thread.start()
        thread.join(timeout=30)
        return created

    monkeypatch.setattr(store, "WRITE_BATCH", 1)
    monkeypatch.setattr(FallbackRanking.objects, "bulk_create", bulk_create_then_look)
    store.refresh(now=shop.now)
    monkeypatch.undo()

    assert len(seen_mid_refresh) > 3  # one look after every row written
    assert all(seen == before for seen in seen_mid_refresh)
    caches[app_settings.CACHE_ALIAS].clear()
    assert store.ranked_item_ids(bob, limit=5) == shop.ids("lantern", "stove")
