"""The app's own cache values are JSON text (or whole numbers), and a value it did not write in
that form, or JSON of the wrong shape, is a miss: never an error, never trusted.

"Planted" values are written with `caches[...]` directly, as someone with access to the cache
(or an older release of the app) could; the app reads them through its own code.
"""

import json
import pickle

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from recommendations.backends.breaker import CircuitBreaker
from recommendations.cache import near as near_cache
from recommendations.cache.access import get_cache
from recommendations.cache.values import MISSING, decode, encode
from recommendations.exceptions import EndpointUnavailable
from recommendations.fallback import store
from recommendations.ops import latency_window, metrics
from recommendations.prefetch import entries, model_versions
from recommendations.serving import product_snapshot
from tests.support.celery_worker import wait_for
from tests.support.redis_process import redis_caches, redis_server_fixture  # noqa: F401

GOOD_ENTRY = {"item_ids": ["1", "2"], "model_version": "v", "created_at": 1.0, "fresh_until": 2e9}


def plant(key: str, value) -> None:
    caches["default"].set(key, value, None)


def raw(key: str):
    return caches["default"].get(key)


def is_app_format(value) -> bool:
    return type(value) is int or (isinstance(value, str) and decode(value) is not MISSING)


# --- the format -------------------------------------------------------------------------------


def test_whole_numbers_stay_numbers_and_the_rest_is_compact_json():
    assert encode(7) == 7
    assert encode(True) == "true"  # a bool is no counter
    assert encode({"a": [1, 2.5]}) == '{"a":[1,2.5]}'
    assert decode('{"a":[1,2.5]}') == {"a": [1, 2.5]}


@pytest.mark.parametrize("value", [{"a": 1}, b'{"a":1}', 1.5, None, "{not json", "[" * 100_000])
def test_anything_but_json_text_or_a_number_decodes_as_missing(value):
    assert decode(value) is MISSING


def test_a_value_json_cannot_hold_is_the_callers_error():
    with pytest.raises(TypeError):
        encode({"when": object()})


@pytest.mark.django_db
def test_the_apps_own_entries_are_stored_as_json_text(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "BREAKER_FAILURES": 1}
    entries.write_entry(7, ["1", "2"], "v1")
    model_versions.note_version("v1")
    metrics.record_prefetch_lag(1.5)
    breaker = CircuitBreaker("endpoint")
    breaker.record_failure(EndpointUnavailable())
    store.popular_item_ids(5)  # caches the (empty) pointer
    written = [
        entries.user_key(7),
        model_versions.KEY_PREFIX + "default",
        metrics.PREFETCH_LAG_KEY,
        "recommendations:breaker:endpoint:opened_at",
        store.CURRENT_KEY,
    ]
    for key in written:
        assert isinstance(raw(key), str), key
        assert is_app_format(raw(key)), key
    assert json.loads(raw(entries.user_key(7)))["item_ids"] == ["1", "2"]


# --- values the app did not write are misses --------------------------------------------------

NOT_THE_APPS = [
    pytest.param(GOOD_ENTRY, id="a-python-object-as-unpickled"),
    pytest.param(b'{"item_ids": ["1"]}', id="bytes"),
    pytest.param("{not json", id="text-not-json"),
    pytest.param(1.5, id="a-float-object"),
]
WRONG_SHAPES = [
    pytest.param('"abc"', id="a-json-string"),
    pytest.param("[1, 2]", id="a-json-list"),
    pytest.param('{"item_ids": "abc", "created_at": 1, "fresh_until": 2}', id="ids-not-a-list"),
    pytest.param('{"version": "x", "popular": "abc", "items": 5}', id="wrong-fields"),
    pytest.param("[" * 50_000 + "]" * 50_000, id="nested-too-deep"),
]


@pytest.mark.parametrize(
    "value", [*NOT_THE_APPS, *WRONG_SHAPES, pytest.param("12", id="a-json-number")]
)
def test_a_planted_prefetched_entry_is_a_miss(value):
    plant(entries.user_key(7), value)
    assert entries.read_entry(7) is None
    assert entries.read_entry_with(7, None, "other")[0] is None


def test_a_good_entry_in_the_apps_format_is_read():
    plant(entries.user_key(7), json.dumps(GOOD_ENTRY))
    assert entries.read_entry(7).item_ids == ("1", "2")


@pytest.mark.django_db
@pytest.mark.parametrize("value", NOT_THE_APPS + WRONG_SHAPES)
def test_planted_fallback_values_are_misses(value):
    for key in (store.CURRENT_KEY, store._user_key(7), store._category_key("c")):
        plant(key, value)
    assert store.ranked_item_ids(7, 5) == []  # no version computed: nothing, and no error
    assert store.ranked_item_ids(None, 5) == []
    assert store.popular_item_ids(5, category="c") == []
    assert is_app_format(raw(store.CURRENT_KEY))  # replaced by a good value


@pytest.mark.parametrize("value", NOT_THE_APPS + WRONG_SHAPES)
def test_a_planted_breaker_state_reads_as_closed(value):
    breaker = CircuitBreaker("endpoint")
    plant("recommendations:breaker:endpoint:opened_at", value)
    assert breaker.state == "closed"
    assert breaker.allow()


@pytest.mark.parametrize("value", NOT_THE_APPS + WRONG_SHAPES)
def test_planted_model_versions_latencies_and_figures_are_misses(value):
    plant(model_versions.KEY_PREFIX + "default", value)
    assert model_versions.latest() is None
    plant(f"{latency_window.KEY_PREFIX}{int(1e9 // 60)}:0", value)
    assert latency_window.counts(now=1e9) == [0] * len(latency_window.counts(now=1e9))
    plant(metrics.PREFETCH_LAG_KEY, value)
    list(metrics.SharedStateCollector().collect())
    plant(product_snapshot.VERSION_KEY, value)
    assert product_snapshot.version_for_page(get_cache().get(product_snapshot.VERSION_KEY)) is None


@pytest.mark.django_db
@pytest.mark.redis
def test_a_value_the_backend_cannot_unpickle_is_a_miss_not_an_outage(redis_server):
    # A Redis cache with the default (pickle) serializer, and text that is no pickle at the key.
    client = redis.Redis(port=redis_server.port, db=15)
    client.set(caches["default"].make_key(entries.user_key(7)), b"\x80\x05garbage")
    assert entries.read_entry(7) is None
    assert get_cache().available  # the cache is not taken for down
    entries.write_entry(8, ["3"], "v")
    assert entries.read_entry(8).item_ids == ("3",)
    client.close()


# --- a cache without pickle: django-redis' JSON serializer ------------------------------------


class Tripwire:
    """Unpickling this records that it happened (it stands for a planted malicious pickle)."""

    fired = False

    def __reduce__(self):
        return (Tripwire._fire, ())

    @staticmethod
    def _fire():
        Tripwire.fired = True
        return GOOD_ENTRY


@pytest.mark.redis
@pytest.mark.django_db
def test_the_app_works_on_a_cache_that_never_unpickles(redis_server):
    caches_settings = redis_caches(redis_server.port)
    caches_settings["default"]["OPTIONS"] = {
        **caches_settings["default"]["OPTIONS"],
        "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
    }
    with override_settings(CACHES=caches_settings):
        entries.write_entry(7, ["1", "2"], "v1")
        assert entries.read_entry(7).item_ids == ("1", "2")
        breaker = CircuitBreaker("endpoint")
        for _ in range(5):
            breaker.record_failure(EndpointUnavailable())
        assert breaker.state == "open"
        latency_window.record(12.0, now=1e9)
        latency_window.record(12.0, now=1e9)
        assert sum(latency_window.counts(now=1e9)) == 2
        model_versions.note_version("v2")
        model_versions.forget_local()
        assert model_versions.latest().version == "v2"
        # A malicious pickle planted at a user's key is never unpickled: it is a miss.
        Tripwire.fired = False
        client = redis.Redis(port=redis_server.port, db=15)
        client.set(caches["default"].make_key(entries.user_key(9)), pickle.dumps(Tripwire()))
        assert entries.read_entry(9) is None
        assert not Tripwire.fired
        client.close()


@pytest.mark.redis
def test_a_foreign_message_on_the_near_cache_channel_drops_what_is_kept(redis_server, caplog):
    entries.write_entry(7, ["1"], "v1")
    entries.read_entry_with(7, None)
    wait_for(lambda: near_cache.near_cache().live, timeout=5, interval=0.01)
    entries.read_entry_with(7, None)  # kept now
    client = redis.Redis(port=redis_server.port, db=15)
    # Changed behind the app's back, then a message that is not the app's announcement.
    client.delete(caches["default"].make_key(entries.user_key(7)))
    channel = near_cache.channel_name("default", near_cache.redis_client("default"))
    client.publish(channel, b"\x80 not json")
    wait_for(lambda: entries.read_entry_with(7, None)[0] is None, timeout=5, interval=0.01)
    assert near_cache.near_cache().live
    assert "lost its Redis channel" not in caplog.text
    client.close()


@pytest.mark.django_db
def test_entries_written_one_by_one_or_in_a_batch_read_back_whole():
    written = entries.write_entry(7, ["1", "2"], "v1", variant="A", prior=True)
    entries.write_entries(
        [(8, ["3"], "v2", None, False), (9, [], None, "B", False)], target_variant="B"
    )

    assert entries.read_entry(7) == written
    assert written.prior and not entries.read_entry(8, "B").prior
    eight, nine = entries.read_entry(8, "B"), entries.read_entry(9, "B")
    assert (eight.item_ids, eight.model_version, eight.variant) == (("3",), "v2", None)
    assert (nine.item_ids, nine.model_version, nine.variant) == ((), None, "B")
    assert eight.created_at == nine.created_at < eight.fresh_until
    assert entries.read_entry(8) is None  # the batch went under variant B's keys
