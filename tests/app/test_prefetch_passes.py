"""One prefetch pass at a time: a pass beat starts while the last one is still paging starts
nothing, a pass whose chain died stops blocking once its lock expires, and a pass skips the users
whose entry is still fresh."""

import logging
import time

import pytest
from django.test import Client

from recommendations.cache.access import get_cache
from recommendations.prefetch import entries, fan_out, model_versions
from recommendations.tasks import prefetch_active_users, prefetch_users
from tests.app.shop.celery import app as celery_app
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_shop():
    """23 users who ordered in the last days, fanned out in pages of 10."""
    from tests.app.shop.checkout import place_order

    _, users = make_shop()
    for user in users[:23]:
        place_order(user, {user.pk % 50 + 1: 1})
    return sorted(user.pk for user in users[:23])


def drain() -> list[tuple[str, list, dict]]:
    """The messages waiting on the in-memory broker's prefetch queue (the test settings' memory://)."""
    from queue import Empty

    name = celery_app.amqp.router.route({}, "recommendations.tasks.prefetch_users")["queue"].name
    messages = []
    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue(name)
        try:
            while True:
                message = queue.get(block=False)
                args, kwargs, _ = message.decode()
                messages.append((message.headers["task"], args, kwargs))
                message.ack()
        except Empty:
            pass
        finally:
            queue.close()
    return messages


def next_pages(messages) -> list[dict]:
    return [kwargs for task, _, kwargs in messages if task.endswith(".prefetch_active_users")]


def batches(messages) -> list[list[int]]:
    return [args[0] for task, args, _ in messages if task.endswith(".prefetch_users")]


def metrics_text() -> str:
    response = Client(REMOTE_ADDR="127.0.0.1").get("/recommendations/metrics/")
    assert response.status_code == 200
    return response.content.decode()


def counted(name: str) -> float:
    for line in metrics_text().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


@pytest.fixture
def pages_of_ten(use_shop_endpoint, monkeypatch):
    endpoint = use_shop_endpoint(BATCH_SIZE=10, PREFETCH_PASS_LOCK_SECONDS=600)
    monkeypatch.setattr(fan_out, "PAGE_BATCHES", 1)
    drain()
    return endpoint


def test_a_pass_beat_starts_while_the_last_one_is_paging_starts_nothing(
    pages_of_ten, active_shop, caplog
):
    assert prefetch_active_users.apply().result == 10  # the first page of the running pass
    (following,) = next_pages(drain())

    with caplog.at_level(logging.WARNING):
        assert prefetch_active_users.apply().result == 0  # beat again, the pass still paging
    assert drain() == []  # no batch, no page: nothing started
    assert "Prefetch pass skipped" in caplog.text
    assert counted("recommendations_prefetch_passes_skipped_total") == 1

    # The running pass goes on to its end, and the next one starts after it.
    assert prefetch_active_users.apply(kwargs=following).result == 10
    (last_page,) = next_pages(drain())
    assert prefetch_active_users.apply(kwargs=last_page).result == 3
    assert next_pages(drain()) == []
    assert prefetch_active_users.apply().result == 10
    assert batches(drain()) == [active_shop[:10]]


def test_a_pass_whose_chain_died_stops_blocking_once_its_lock_expires(
    use_shop_endpoint, active_shop, monkeypatch
):
    use_shop_endpoint(BATCH_SIZE=10, PREFETCH_PASS_LOCK_SECONDS=1)
    monkeypatch.setattr(fan_out, "PAGE_BATCHES", 1)
    drain()
    assert prefetch_active_users.apply().result == 10
    drain()  # the next page's message is lost: the chain is dead, its lock still held
    assert prefetch_active_users.apply().result == 0

    # The lock expires by itself (the cache's own expiry, a second here): passes resume.
    deadline = time.monotonic() + 10
    while get_cache().get(fan_out.LOCK_KEY) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert prefetch_active_users.apply().result == 10
    assert batches(drain()) == [active_shop[:10]]


def test_a_live_pass_whose_lock_another_pass_took_stops_at_its_next_page(pages_of_ten, active_shop):
    assert prefetch_active_users.apply().result == 10
    (following,) = next_pages(drain())
    # As if the lock had expired while the queue was backed up and beat had started a new pass.
    get_cache().delete(fan_out.LOCK_KEY)
    assert prefetch_active_users.apply().result == 10
    drain()
    assert prefetch_active_users.apply(kwargs=following).result == 0  # the old chain ends here
    assert drain() == []


def test_prefetch_skips_users_whose_entry_is_still_fresh(use_shop_endpoint, active_shop):
    endpoint = use_shop_endpoint(BATCH_SIZE=10)
    users = active_shop[:10]
    for user_id in users[:6]:
        entries.write_entry(user_id, ["1", "2"], "v-cached")

    assert prefetch_users.apply(args=[users]).result == 4
    assert endpoint.stats()["instances"] == 4  # only the four without an entry were asked for
    assert endpoint.invocations() == 1
    assert counted("recommendations_prefetch_fresh_skipped_total") == 6

    endpoint.reset_stats()
    assert prefetch_users.apply(args=[users]).result == 0
    assert endpoint.invocations() == 0  # everybody fresh: no call at all


def test_prefetch_asks_again_for_stale_and_outdated_entries(use_shop_endpoint, active_shop):
    endpoint = use_shop_endpoint(BATCH_SIZE=10, MODEL_VERSION_REFRESH_SPREAD=1)
    stale, outdated, fresh = active_shop[:3]
    now = time.time()

    def plant(user_id: int, version: str, made: float) -> None:
        entry = {"item_ids": ["1"], "model_version": version, "created_at": made}
        get_cache().set(entries.user_key(user_id), {**entry, "fresh_until": made + 900})

    plant(stale, "v2", now - 10_000)
    plant(outdated, "v1", now - 60)  # fresh for 14 more minutes, but by the older model
    plant(fresh, "v2", now - 60)
    # A newer model answered since the outdated entry was made, and its refresh is due.
    model_versions.note_version("v2", now=now - 5)

    assert prefetch_users.apply(args=[[stale, outdated, fresh]]).result == 2
    assert endpoint.stats()["instances"] == 2


def test_an_entry_half_way_through_its_freshness_is_asked_for_again(use_shop_endpoint, active_shop):
    """Beat's pass every 10 minutes, entries fresh for 15: the next pass renews every entry."""
    endpoint = use_shop_endpoint(BATCH_SIZE=10, FRESH_TTL=900)
    aging, young = active_shop[:2]
    for user_id in (aging, young):
        entries.write_entry(user_id, ["1"], "v-cached")
    entry = entries.read_entry(aging)
    made = entry.created_at - 600  # ten minutes old: fresh for five more
    get_cache().set(
        entries.user_key(aging),
        {**entry.as_value(), "created_at": made, "fresh_until": made + 900},
    )
    assert prefetch_users.apply(args=[[aging, young]]).result == 1
    assert endpoint.stats()["instances"] == 1
