"""Entries kept by the web process (recommendations/cache/near.py): a user's further pages read no
cache, and every change made through the app, in any process, drops the kept copy at once.

Most tests run against a real redis-server (the shop's django-redis settings). "Another process"
is a second `NearCache`: the same code a second web process runs, with a store of its own, so
that what reaches this process's store can only have come through the Redis channel.
"""

import json
import logging
from collections.abc import Callable

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from recommendations.cache import near as near_cache
from recommendations.cache.access import get_cache
from recommendations.prefetch import entries
from recommendations.serving import product_snapshot
from tests.support.celery_worker import wait_for
from tests.support.redis_process import redis_server_fixture  # noqa: F401

VERSION = product_snapshot.VERSION_KEY


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    wait_for(condition, timeout=seconds, interval=0.01)


def read(user_id: int = 7) -> tuple[entries.PrefetchedEntry | None, dict]:
    return entries.read_entry_with(user_id, None, VERSION)


def items(user_id: int = 7) -> tuple[str, ...] | None:
    entry, _ = read(user_id)
    return entry.item_ids if entry else None


def reads_sent(server) -> int:
    """MGET commands the Redis server has answered so far."""
    client = redis.Redis(port=server.port)
    try:
        return client.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)
    finally:
        client.close()


def key_of(name: str) -> str:
    return caches["default"].make_key(name)


@pytest.fixture
def kept(redis_server):
    """User 7's entry and the catalog version, read once and kept by this process."""
    entries.write_entry(7, ["1", "2", "3"], "v1")
    get_cache().set(VERSION, 111, None)
    read()
    wait_until(lambda: near_cache.near_cache().live)
    read()  # the first read after subscribing keeps the values
    return redis_server


@pytest.mark.redis
def test_a_kept_entry_is_read_without_a_round_trip(kept):
    before = reads_sent(kept)
    for _ in range(50):
        entry, others = read()
        assert entry.item_ids == ("1", "2", "3")
        assert others == {VERSION: 111}
    assert reads_sent(kept) == before


@pytest.mark.redis
def test_a_change_behind_the_apps_back_waits_for_the_time_bound(kept):
    client = redis.Redis(port=kept.port, db=15)
    client.delete(key_of(entries.user_key(7)))  # no announcement: nobody can know
    assert items() == ("1", "2", "3")
    # Long enough for the next line to run first on a loaded machine; short enough to wait out.
    with override_settings(RECOMMENDATIONS={**settings.RECOMMENDATIONS, "NEAR_CACHE_SECONDS": 2}):
        entries.write_entry(8, ["9"], "v1")
        entries.read_entry_with(8, None)
        wait_until(lambda: near_cache.near_cache().live)
        entries.read_entry_with(8, None)
        client.delete(key_of(entries.user_key(8)))
        assert entries.read_entry_with(8, None)[0] is not None  # kept
        wait_until(lambda: entries.read_entry_with(8, None)[0] is None, 6.0)
    client.close()


@pytest.mark.redis
def test_an_entry_written_by_another_process_replaces_the_kept_one(kept):
    other = near_cache.NearCache()
    get_cache().set(
        entries.user_key(7),
        {"item_ids": ["4"], "model_version": "v2", "created_at": 1.0, "fresh_until": 2.0},
    )
    assert items() == ("1", "2", "3")  # not announced yet
    other.changed([entries.user_key(7)])
    wait_until(lambda: items() == ("4",))


@pytest.mark.redis
def test_an_entry_deleted_by_another_process_is_gone_from_this_one(kept):
    """A purchase deletes the buyer's entry wherever the checkout ran; no process shows it on."""
    other = near_cache.NearCache()
    get_cache().delete(entries.user_key(7))
    other.changed([entries.user_key(7)])
    wait_until(lambda: items() is None)


@pytest.mark.redis
def test_a_new_catalog_version_from_another_process_is_read_at_once(kept):
    other = near_cache.NearCache()
    get_cache().set(VERSION, 222, None)
    other.changed([VERSION])
    wait_until(lambda: read()[1] == {VERSION: 222})


@pytest.mark.redis
def test_this_process_own_writes_show_on_its_next_read(kept):
    entries.write_entry(7, ["5", "6"], "v3")
    assert items() == ("5", "6")  # no wait: the writer forgets its own copy first
    entries.delete_entry(7)
    assert items() is None


@pytest.mark.redis
def test_a_lost_channel_empties_the_store_and_resubscribes(kept, caplog):
    caplog.set_level(logging.INFO, logger="recommendations.cache.near")
    admin = redis.Redis(port=kept.port)
    client = redis.Redis(port=kept.port, db=15)
    admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    wait_until(lambda: not near_cache.near_cache().live)
    # Changed while nobody listened, without a word: only an empty store can be right now.
    client.set(key_of(VERSION), 333)
    assert read()[1] == {VERSION: 333}
    wait_until(lambda: near_cache.near_cache().live)
    read()
    before = reads_sent(kept)
    assert read()[1] == {VERSION: 333}
    assert reads_sent(kept) == before  # kept again
    assert [(r.levelname, r.getMessage()[:30]) for r in caplog.records] == [
        ("WARNING", "Recommendations near cache los"),
        ("INFO", "Recommendations near cache has"),
    ]
    admin.close()
    client.close()


@pytest.mark.redis
def test_a_dead_redis_keeps_nothing_and_pages_miss(kept):
    kept.kill()
    wait_until(lambda: not near_cache.near_cache().live)
    assert read() == (None, {})  # an unreachable cache is a miss; the page uses the fallback


@pytest.mark.redis
def test_a_read_raced_by_a_change_is_not_kept(kept):
    """`_keep` is called here by hand: the race (a change between the read and the keeping) is a
    window of microseconds that a test cannot hit on purpose."""
    store = near_cache.near_cache()
    generation = store._generation
    store._forget(["something else"])  # a change was announced while the read was in flight
    store._keep({"raced": 1}, generation, 30)
    assert "raced" not in store._values
    store._keep({"raced": 1}, store._generation, 30)
    assert "raced" in store._values


@pytest.mark.redis
def test_switched_off_every_read_goes_to_redis(redis_server):
    with override_settings(RECOMMENDATIONS={**settings.RECOMMENDATIONS, "NEAR_CACHE_SECONDS": 0}):
        entries.write_entry(7, ["1"], "v1")
        before = reads_sent(redis_server)
        for _ in range(5):
            assert items() == ("1",)
        assert reads_sent(redis_server) == before + 5
        assert near_cache.near_cache()._listener is None
        # Writes are still announced: the web processes may keep keys with settings of their own.
        client = near_cache.redis_client("default")
        listener = client.pubsub(ignore_subscribe_messages=True)
        listener.subscribe(near_cache.channel_name("default", client))
        entries.write_entry(7, ["2"], "v2")
        message = None
        for _ in range(50):
            message = message or listener.get_message(timeout=0.1)
        assert message is not None
        assert json.loads(message["data"]) == [entries.user_key(7)]
        listener.close()


def test_other_cache_backends_are_read_every_time():
    """The tests' default cache is LocMemCache: no channel, so nothing is kept."""
    assert near_cache.redis_client("default") is None
    entries.write_entry(7, ["1"], "v1")
    assert items() == ("1",)
    # Edited by hand behind the app's back, in the app's format (JSON text).
    caches["default"].set(
        entries.user_key(7),
        json.dumps(
            {"item_ids": ["2"], "model_version": "v", "created_at": 1.0, "fresh_until": 2.0}
        ),
    )
    assert items() == ("2",)
    assert near_cache.near_cache()._listener is None
