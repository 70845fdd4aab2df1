"""What reaches the events tables can be stored, one bad event never blocks a batch, a batch the
database cannot take is retried and then counted lost, the insert lock is released only by the run
that holds it, and dropped events are counted once everywhere.

Runs on the pass's database: PostgreSQL refuses a value longer than its column (DataError), where
SQLite would store it whole.
"""

import time
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import DatabaseError, connection
from django.test import override_settings
from django.urls import reverse

from recommendations import tasks
from recommendations.backends import get_backend, reset_clients
from recommendations.cache.access import get_cache
from recommendations.models import Click, Impression
from recommendations.ops import metrics, recent_figures
from recommendations.reporting import report
from recommendations.tracking import events, impressions
from tests.support.event_delivery import unreachable_broker
from tests.support.model_server import free_port
from tests.support.scripted_endpoint import (
    model_answer,
    ok,
    scripted_endpoint_fixture,  # noqa: F401 (fixture "scripted_endpoint")
)
from tests.support.shop_data import make_shop
from tests.support.tracking import impression_event

pytestmark = pytest.mark.django_db

# An API Gateway in front of the model may name its variant as it likes; the column holds 64.
LONG_VARIANT = "blue-" + "x" * 195
VARIANT_COLUMN = Impression._meta.get_field("variant").max_length


@pytest.fixture(autouse=True)
def empty_buffer():
    events.buffer().clear()
    yield
    events.buffer().clear()


def click(number: int, **fields) -> dict:
    return {
        "kind": events.CLICK,
        "click_id": f"{number:032x}",
        "impression_request_id": f"{number:032x}",
        "item_id": "5",
        "position": 1,
        "pseudonym": "p",
        "arm": "model",
        "source": "model",
        "variant": "",
        "created_at": time.time(),
        **fields,
    }


# --- item 5: what comes from outside fits its column; one bad event does not block a batch ------


def test_a_variant_name_longer_than_its_column_reaches_the_database_cut_to_fit(
    client, scripted_endpoint
):
    _, users = make_shop()
    scripted_endpoint.script(
        ok(
            {"predictions": [model_answer(*range(5, 15))]},
            headers={"X-Amzn-Invoked-Production-Variant": LONG_VARIANT},
        )
    )
    reset_clients()
    with override_settings(
        RECOMMENDATIONS={
            **settings.RECOMMENDATIONS,
            "BACKEND": "http",
            "HTTP_URL": scripted_endpoint.url + "/prod/recommend",
            "HTTP_API_KEY": "apigw-key-test",
            "REGION": "eu-west-1",
            "BUDGET_MS": 3000,  # generous: the page must wait for the answer on a busy machine
            "TRACKING": True,
            "EVENT_FLUSH_INTERVAL": 60.0,
        }
    ):
        get_backend().warm_up("page")
        client.force_login(users[0])
        payload = client.get(reverse("recommendations:api"), {"limit": 4}).json()
        assert payload["source"] == "model"
        assert client.get(payload["items"][0]["click_url"]).status_code == 302
        result = events.write_buffered()
    reset_clients()
    assert (result.impressions, result.clicks) == (1, 1)
    assert Impression.objects.get().variant == LONG_VARIANT[:VARIANT_COLUMN]
    assert Click.objects.get().variant == LONG_VARIANT[:VARIANT_COLUMN]


def test_events_are_built_to_fit_their_columns():
    event = impressions.impression_event(
        impressions.Recommendations(
            items=[],
            source="model",
            model_version="m" * 300,
            request_id="a" * 32,
            variant=LONG_VARIANT,
        ),
        "p",
    )
    assert event["variant"] == LONG_VARIANT[:VARIANT_COLUMN]
    assert len(event["model_version"]) == Impression._meta.get_field("model_version").max_length


def test_events_sent_by_an_older_process_are_cut_to_fit():
    # Built before the events were checked where they are made: the worker checks them again.
    result = events.insert_batch(
        [impression_event(1, variant=LONG_VARIANT), click(1, variant=LONG_VARIANT)]
    )
    assert (result.impressions, result.clicks, result.rejected) == (1, 1, 0)
    assert Impression.objects.get().variant == LONG_VARIANT[:VARIANT_COLUMN]
    assert Click.objects.get().variant == LONG_VARIANT[:VARIANT_COLUMN]


def test_one_bad_event_does_not_block_its_batch_and_is_counted():
    result = events.insert_batch(
        [
            impression_event(1),
            click(2, position=2**70),  # no column holds it: refused by either database
            impression_event(3, created_at=None),  # no time: no row
            impression_event(4, colour="red"),  # a field the table does not have
            {"kind": "view", "request_id": "x"},  # a kind the app does not know
            impression_event(5),
            click(6),
        ]
    )
    assert (result.impressions, result.clicks, result.rejected) == (2, 1, 4)
    assert sorted(Impression.objects.values_list("request_id", flat=True)) == [
        f"{1:032x}",
        f"{5:032x}",
    ]
    assert list(Click.objects.values_list("click_id", flat=True)) == [f"{6:032x}"]
    assert events.dropped_total() == 4


@contextmanager
def clicks_table_away():
    """Stands for a database that fails for a reason of its own (not the events'): the table is
    out of reach. SQLite says OperationalError, PostgreSQL ProgrammingError."""
    table = Click._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")


def test_a_database_that_cannot_take_a_batch_keeps_it_whole_for_the_next_attempt():
    batch = [impression_event(1), click(2)]
    with clicks_table_away(), pytest.raises(DatabaseError):
        events.insert_batch(batch)
    assert get_cache().get(events.INSERT_LOCK_KEY) is None  # released for the next attempt
    result = events.insert_batch(batch)
    assert (result.impressions, result.clicks, result.rejected) == (1, 1, 0)
    assert (Impression.objects.count(), Click.objects.count()) == (1, 1)
    assert events.dropped_total() == 0


def test_a_batch_the_database_refuses_for_every_retry_is_counted_lost():
    with clicks_table_away():
        # Run eagerly (`apply`), Celery makes each retry at once instead of after its backoff.
        assert tasks.record_events.apply(args=[[impression_event(1), click(2)]]).get() == 0
    assert events.lost_batches_total() == 1
    assert report.build_report().lost_batches == 1
    assert Impression.objects.count() == 0


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param([{"kind": "impression"}], id="an-event-without-fields"),
        pytest.param([{"kind": "click", "created_at": 1.0, "no_such": 1}], id="unknown-field"),
        pytest.param(["x", 5, None, [1]], id="events-not-objects"),
    ],
)
def test_a_message_with_events_not_in_the_apps_shape_is_refused_and_counted(batch):
    assert tasks.record_events.apply(args=[[*batch, impression_event(1)]], throw=True).get() == 1
    assert list(Impression.objects.values_list("request_id", flat=True)) == [f"{1:032x}"]
    assert events.dropped_total() == len(batch)


# --- item 6: the insert lock is released only by the run that holds it ------------------------


@pytest.fixture
def cache_locked_inserts(monkeypatch):
    """Stands for a database that does not order inserts itself (neither PostgreSQL nor SQLite):
    the inserts take the cache lock."""
    monkeypatch.setattr(events, "database_orders_inserts", lambda: False)


@pytest.mark.usefixtures("cache_locked_inserts")
def test_an_insert_that_outlived_its_lock_leaves_the_next_runs_lock_alone(monkeypatch):
    cache = get_cache()
    insert = events.insert_events

    def slow_insert(batch):
        # Stands for an insert slower than INSERT_LOCK_SECONDS: its lock expired meanwhile, and
        # another worker took the lock.
        cache.delete(events.INSERT_LOCK_KEY)
        assert cache.add(events.INSERT_LOCK_KEY, "the-next-run", events.INSERT_LOCK_SECONDS)
        return insert(batch)

    monkeypatch.setattr(events, "insert_events", slow_insert)
    assert events.insert_batch([impression_event(1)]).impressions == 1
    assert cache.get(events.INSERT_LOCK_KEY) == "the-next-run"


@pytest.mark.usefixtures("cache_locked_inserts")
def test_an_insert_releases_its_own_lock():
    assert events.insert_batch([impression_event(1)]).impressions == 1
    assert get_cache().get(events.INSERT_LOCK_KEY) is None
    assert events.insert_batch([impression_event(2)]).impressions == 1


# --- item 7: dropped events are counted once ------------------------------------------------


def unreachable_cache() -> dict:
    from tests.support.model_server import free_port

    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.05, "socket_timeout": 0.1},
        }
    }


def scraped_dropped() -> float:
    [family] = [m for m in metrics._shared_collector.collect() if m.name.endswith("events_dropped")]
    return sum(sample.value for sample in family.samples)


def scraped_drops_by_reason() -> dict[str, float]:
    [family] = [m for m in metrics._shared_collector.collect() if m.name.endswith("events_dropped")]
    return {sample.labels["reason"]: sample.value for sample in family.samples if sample.value}


def test_dropped_events_are_counted_once_in_metrics_figures_and_report():
    small = {**settings.RECOMMENDATIONS, "EVENT_BATCH_SIZE": 2, "EVENT_BUFFER_MAX": 3}
    with (
        override_settings(RECOMMENDATIONS=small, CACHES=unreachable_cache()),
        unreachable_broker(free_port()),
    ):
        for number in range(5):
            events.record(impression_event(number))
        events.hand_off_buffered()  # fails, after any attempt of the process's thread
        assert events.dropped_in_process() == 2
        # The cache is down: only this process knows of its drops, and says so.
        assert scraped_dropped() == 2
    with override_settings(RECOMMENDATIONS=small):
        events.hand_off_buffered()  # broker and cache are back: the drops join the shared count
        assert scraped_dropped() == 2
        assert recent_figures.recent_figures().events_dropped == 2
        assert report.build_report().dropped_events == 2


def test_a_click_keeps_an_item_id_as_long_as_an_answer_may_hold():
    from recommendations.backends.codecs import MAX_ITEM_ID_CHARS
    from recommendations.tracking import clicks

    item_id = "sku-" + "9" * (MAX_ITEM_ID_CHARS - 4)
    target = clicks.ClickTarget("a" * 32, item_id, 1, "model", "model", LONG_VARIANT)
    assert events.insert_batch([impressions.click_event(target, "p")]).clicks == 1
    stored = Click.objects.get()
    assert stored.item_id == item_id
    assert stored.variant == LONG_VARIANT[:VARIANT_COLUMN]


# --- a worker killed mid-insert holds up nobody (bench/chaos.py) -------------------------------


def test_a_worker_killed_holding_the_insert_lock_does_not_hold_up_the_next_insert():
    # A worker killed (SIGKILL) in the middle of its insert leaves behind the lock it held, and
    # nothing of it is left to release it.
    from recommendations.cache.lock import CacheLock

    assert CacheLock(events.INSERT_LOCK_KEY, events.INSERT_LOCK_SECONDS).acquire()
    assert events.insert_batch([impression_event(1), click(1)]).impressions == 1
    assert (Impression.objects.count(), Click.objects.count()) == (1, 1)


# --- every drop names its reason in /metrics ---------------------------------------------------


def test_dropped_events_show_in_metrics_with_their_reason():
    small = {**settings.RECOMMENDATIONS, "EVENT_BATCH_SIZE": 2, "EVENT_BUFFER_MAX": 3}
    with override_settings(RECOMMENDATIONS=small), unreachable_broker(free_port()):
        for number in range(5):
            events.record(impression_event(number))
        events.hand_off_buffered()  # the broker is down: two events had no room
    events.hand_off_buffered()  # the broker is back: the drops join the shared counters
    tasks.record_events.apply(args=[[{"kind": "impression"}, impression_event(9)]], throw=True)
    assert scraped_drops_by_reason() == {events.BUFFER_FULL: 2, events.REFUSED: 1}
    assert events.dropped_total() == 3


def test_events_a_process_exits_with_while_the_broker_is_down_are_counted_with_their_reason():
    for number in range(3):
        events.record(impression_event(number))
    with unreachable_broker(free_port()):
        events._hand_off_at_exit()
    assert scraped_drops_by_reason() == {events.BROKER_DOWN_AT_EXIT: 3}
    assert events.dropped_total() == 3


def test_the_events_of_a_batch_lost_past_its_retries_are_counted_with_their_reason():
    with clicks_table_away():
        tasks.record_events.apply(args=[[impression_event(1), click(2)]])
    assert scraped_drops_by_reason() == {events.RETRIES_EXHAUSTED: 2}
    assert events.lost_batches_total() == 1
