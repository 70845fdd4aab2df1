"""Noticing a new model version, and refreshing older entries spread out over a window."""

import time
from dataclasses import asdict

import pytest
from django.conf import settings
from django.test import override_settings

from recommendations import service
from recommendations.cache.access import get_cache
from recommendations.prefetch import entries, model_versions
from recommendations.prefetch.entries import PrefetchedEntry
from recommendations.prefetch.model_versions import (
    LATEST_CHECK_SECONDS,
    VersionRecord,
    is_outdated,
    latest,
    note_version,
    refresh_due_at,
)
from tests.support.factories import make_customer, make_product

SPREAD = 1800.0


def entry(version: str | None, created_at: float) -> PrefetchedEntry:
    return PrefetchedEntry(
        item_ids=("1", "2"),
        model_version=version,
        created_at=created_at,
        fresh_until=created_at + 900,
    )


def spread(seconds: float):
    """MODEL_VERSION_REFRESH_SPREAD set; nobody held out (the holdout never reads entries)."""
    return override_settings(
        RECOMMENDATIONS={
            **settings.RECOMMENDATIONS,
            "MODEL_VERSION_REFRESH_SPREAD": seconds,
            "HOLDOUT_SHARE": 0.0,
        }
    )


def test_without_a_newer_version_nothing_is_outdated():
    now = time.time()
    assert not is_outdated(entry("v1", now - 100), user_id=1, now=now)
    note_version("v1", now=now - 50)
    assert not is_outdated(entry("v1", now - 100), user_id=1, now=now + 10_000)


def test_refreshes_of_older_entries_are_spread_evenly_over_the_window():
    since = 1_000_000.0
    note_version("v1", now=since - 3600)
    note_version("v2", now=since)
    old_entries = {user_id: entry("v1", since - 60) for user_id in range(1, 2001)}

    def share_due(at: float) -> float:
        due = [is_outdated(e, user_id, now=at) for user_id, e in old_entries.items()]
        return sum(due) / len(due)

    with spread(SPREAD):
        assert share_due(since) < 0.01  # not a stampede the moment the new version shows
        assert 0.15 < share_due(since + SPREAD * 0.25) < 0.35
        assert 0.40 < share_due(since + SPREAD * 0.5) < 0.60
        assert share_due(since + SPREAD) == 1.0  # everybody's turn came within the window
        # A user's turn is fixed: the same in every process, whatever the order of page views.
        assert refresh_due_at(7, latest(now=since)) == refresh_due_at(7, latest(now=since))


def test_entries_of_the_new_version_or_made_during_the_rollout_are_left_alone():
    since = 1_000_000.0
    note_version("v1", now=since - 3600)
    note_version("v2", now=since)
    later = since + SPREAD * 10
    with spread(SPREAD):
        assert not is_outdated(entry("v2", since + 1), 3, now=later)
        # Made by the old version after the new one showed up: both were answering.
        assert not is_outdated(entry("v1", since + 1), 3, now=later)
        assert not is_outdated(entry(None, since - 1), 3, now=later)
        assert is_outdated(entry("v1", since - 1), 3, now=later)


def test_noting_the_same_version_again_keeps_its_first_sighting():
    assert note_version("v1", now=100.0) is True
    assert note_version("v1", now=200.0) is False
    assert note_version(None, now=300.0) is False
    assert latest(now=100.0) == VersionRecord("v1", 100.0)
    assert note_version("v2", now=400.0) is True
    assert latest(now=400.0) == VersionRecord("v2", 400.0)


def test_each_variant_has_its_own_newest_version():
    note_version("a1", target_variant=None, now=10.0)
    note_version("b1", target_variant="Challenger", now=20.0)
    assert latest(None, now=20.0).version == "a1"
    assert latest("Challenger", now=20.0).version == "b1"


def test_a_version_noted_by_another_process_is_seen_within_the_check_interval():
    note_version("v1", now=1000.0)
    assert latest(now=1000.0).version == "v1"
    # Another process (a Celery worker) notes v2: it writes the shared cache only.
    get_cache().set(f"{model_versions.KEY_PREFIX}default", {"version": "v2", "since": 1001.0})
    assert latest(now=1001.0).version == "v1"  # this process's copy, no cache read
    assert latest(now=1000.0 + LATEST_CHECK_SECONDS).version == "v2"


# --- the page path --------------------------------------------------------------------------


def _store_entry(user_id: int, version: str, created_at: float, item_ids: tuple) -> None:
    value = PrefetchedEntry(item_ids, version, created_at, fresh_until=time.time() + 900)
    get_cache().set(entries.user_key(user_id), asdict(value), timeout=3600)


@pytest.mark.django_db
def test_a_page_shows_an_older_models_entry_and_asks_for_a_refresh_when_due(enqueued):
    products = [make_product() for _ in range(4)]
    user = make_customer()
    ids = tuple(str(p.pk) for p in products)
    now = time.time()
    _store_entry(user.pk, "v1", now - 120, ids)
    note_version("v2", now=now - 60)
    with spread(0):
        answer = service.recommend(user, limit=4)
    assert [item.item_id for item in answer.items] == list(ids)  # still shown, not thrown away
    assert answer.model_version == "v1"
    assert enqueued == [(user.pk,)]


@pytest.mark.django_db
def test_a_page_before_the_users_turn_asks_for_nothing(enqueued):
    products = [make_product() for _ in range(4)]
    users = [make_customer() for _ in range(5)]
    now = time.time()
    note_version("v2", now=now - 1)
    record = latest(now=now)
    with spread(10**6):
        # Someone whose turn is at least a minute away (nearly everybody in a 12-day window).
        user = next(u for u in users if refresh_due_at(u.pk, record) > now + 60)
        _store_entry(user.pk, "v1", now - 120, tuple(str(p.pk) for p in products))
        service.recommend(user, limit=4)
    assert enqueued == []
