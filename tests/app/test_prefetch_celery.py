"""Prefetching with a real Celery worker (subprocess) on the real Redis broker and Redis cache,
calling model/serve.py through boto3. The endpoint counts its invocations at the server.
"""

import logging

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse

from recommendations.backends.base import reset_clients
from recommendations.prefetch import entries
from recommendations.prefetch.refresh_queue import PREFETCH_USER_TASK, enqueue_refresh, reset_pause
from recommendations.tasks import prefetch_user, prefetch_users
from recommendations.tracking.pseudonyms import pseudonym
from tests.app.shop.models import Order
from tests.support.celery_worker import publishing_to, running_worker, wait_for
from tests.support.model_server import free_port
from tests.support.services import require
from tests.support.shop_data import make_shop

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

WIDGET_ITEMS = r'data-item-id="([^"]+)"'


@pytest.fixture(scope="module")
def redis_urls() -> dict[str, str]:
    require("redis", settings.TEST_REDIS_URL, 6379)
    return {
        "broker": settings.TEST_REDIS_BROKER_URL,
        "cache": settings.TEST_REDIS_CACHE_URL,
    }


@pytest.fixture(scope="module")
def app_settings_for_tests(shop_endpoint) -> dict:
    return {
        **shop_endpoint.recommendations_settings(),
        "BUDGET_MS": 300,
        "CATALOG": "tests.app.shop.catalog.ShopCatalog",
        "PREFETCH_RETRY_BACKOFF": 0.2,
        "BATCH_SIZE": 50,
        # One transport attempt, so that throttling reaches the task's own retry with backoff.
        "TASK_MAX_ATTEMPTS": 1,
        # Short enough that a task waiting for the breaker runs again within the test.
        "BREAKER_COOLDOWN": 3,
    }


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory, redis_urls, app_settings_for_tests):
    # After django_db_setup: the worker is told the test database's name, which exists only from
    # then on (run alone on PostgreSQL, this file's worker used to get the development database's).
    with running_worker(
        tmp_path_factory.mktemp("celery"),
        broker_url=redis_urls["broker"],
        cache_url=redis_urls["cache"],
        recommendations=app_settings_for_tests,
    ) as worker:
        yield worker


@pytest.fixture
def stack(worker, shop_endpoint, redis_urls, app_settings_for_tests):
    """The test process shares the worker's broker, cache and settings; endpoint reset per test."""
    import redis

    for url in redis_urls.values():
        redis.Redis.from_url(url).flushdb()
    shop_endpoint.set_fault("none")
    reset_clients()
    reset_pause()
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_urls["cache"],
        }
    }
    with (
        override_settings(CACHES=caches, RECOMMENDATIONS=app_settings_for_tests),
        publishing_to(redis_urls["broker"]),
    ):
        shop_endpoint.reset_stats()
        yield shop_endpoint
    shop_endpoint.set_fault("none")


def shown_items(response) -> list[str]:
    import re

    assert response.status_code == 200
    section = response.content.decode().split('<section class="recommendations"', 1)[1]
    return re.findall(WIDGET_ITEMS, section.split("</section>", 1)[0])


def test_after_a_login_the_entry_is_prefetched_and_the_home_page_costs_no_call(client, stack):
    _, users = make_shop()
    assert client.login(username=users[0].username, password="pw")
    entry = wait_for(lambda: entries.read_entry(users[0].pk))
    assert stack.invocations() == 1
    items = shown_items(client.get(reverse("home")))
    assert items == list(entry.item_ids[:8])
    assert stack.invocations() == 1  # the page was a cache read


def test_after_a_purchase_the_bought_item_is_gone_from_the_widget(client, stack):
    _, users = make_shop()
    user = users[1]
    assert client.login(username=user.username, password="pw")
    bought = wait_for(lambda: entries.read_entry(user.pk)).item_ids[0]
    assert bought in shown_items(client.get(reverse("home")))

    client.post(reverse("cart_add", args=[int(bought)]))
    client.post(reverse("checkout"))
    assert Order.objects.filter(user=user).exists()

    assert bought not in shown_items(client.get(reverse("home")))
    refreshed = wait_for(lambda: entries.read_entry(user.pk))
    assert bought not in refreshed.item_ids
    assert bought not in shown_items(client.get(reverse("home")))


def test_a_refresh_enqueued_by_task_name_reaches_the_worker(stack):
    # The refresh queue names the task instead of importing tasks.py (it sits below the edges).
    _, users = make_shop()
    assert entries.read_entry(users[2].pk) is None

    assert enqueue_refresh(users[2].pk) is True

    assert wait_for(lambda: entries.read_entry(users[2].pk)).item_ids
    assert stack.invocations() == 1


def test_prefetching_120_users_makes_3_invocations(stack):
    User = get_user_model()
    users = User.objects.bulk_create(User(username=f"bulk{i}") for i in range(120))
    ids = [user.pk for user in users]
    prefetch_users.delay(ids)
    wait_for(lambda: all(entries.read_entry(pk) for pk in ids), timeout=30)
    assert stack.invocations() == 3
    # The worker measured how long the task waited in the broker (for the metrics view).
    from recommendations.cache.access import get_cache
    from recommendations.ops.metrics import PREFETCH_LAG_KEY

    lag_seconds, _ = get_cache().get(PREFETCH_LAG_KEY)
    assert 0 <= lag_seconds < 30


def test_throttling_during_a_batch_is_retried_then_succeeds(stack, worker):
    _, users = make_shop()
    ids = [user.pk for user in users[:10]]
    stack.set_fault("throttle")
    prefetch_users.delay(ids)
    wait_for(lambda: stack.invocations() >= 1)
    stack.set_fault("none")
    wait_for(lambda: all(entries.read_entry(pk) for pk in ids), timeout=30)
    assert stack.invocations() >= 2
    assert "Retry in" in worker.log()


def test_a_worker_killed_mid_task_runs_the_task_again_with_the_right_result(stack, worker):
    _, users = make_shop()
    user = users[2]
    stack.set_fault("none", latency_ms=5000)
    prefetch_user.delay(user.pk)
    wait_for(lambda: stack.invocations() >= 1)
    worker.kill_child()
    stack.set_fault("none")
    entry = wait_for(lambda: entries.read_entry(user.pk), timeout=40)
    expected = stack.invoke({"user_id": pseudonym(user.pk), "num_results": 16, "exclude": []})
    assert list(entry.item_ids) == [item["item_id"] for item in expected["recommendations"]]
    assert stack.invocations() >= 3  # killed attempt, the rerun, and the check above


def test_while_the_breaker_is_open_the_worker_waits_for_it_then_prefetches(stack, worker):
    from recommendations.backends.breaker import CLOSED, OPEN, get_breaker
    from recommendations.exceptions import EndpointUnavailable

    _, users = make_shop()
    ids = [user.pk for user in users[:5]]
    # Web processes met a dead endpoint: the shared breaker (in the Redis cache) is open.
    breaker = get_breaker(stack.endpoint_name)
    while breaker.state != OPEN:
        breaker.record_failure(EndpointUnavailable(status_code=503))
    waits_before = worker.log().count("BreakerOpen")
    prefetch_users.delay(ids)
    wait_for(lambda: worker.log().count("BreakerOpen") > waits_before)
    assert stack.invocations() == 0, "the worker called an endpoint the breaker holds open"
    # After the cool-down the retried task is the probe: it succeeds and closes the breaker.
    wait_for(lambda: all(entries.read_entry(pk) for pk in ids), timeout=30)
    assert stack.invocations() == 1
    assert breaker.state == CLOSED


def test_failures_in_a_worker_open_the_breaker_that_pages_consult(stack, worker):
    from recommendations.backends.breaker import OPEN, get_breaker

    _, users = make_shop()
    stack.set_fault("http500")
    prefetch_user.delay(users[0].pk)
    breaker = get_breaker(stack.endpoint_name)
    wait_for(lambda: breaker.state == OPEN, timeout=30)
    opened_after = stack.invocations()
    assert opened_after == 5  # BREAKER_FAILURES: the task's retries stop once it opened


@pytest.fixture
def broker_down(shop_endpoint):
    """A broker at a closed port; the endpoint is healthy so only enqueueing fails."""
    reset_pause()
    with (
        override_settings(
            RECOMMENDATIONS={
                **shop_endpoint.recommendations_settings(),
                "CATALOG": "tests.app.shop.catalog.ShopCatalog",
            }
        ),
        publishing_to(f"redis://127.0.0.1:{free_port()}/0"),
    ):
        yield
    reset_pause()


def test_with_the_broker_down_login_and_checkout_still_succeed(client, broker_down, caplog):
    products, users = make_shop()
    with caplog.at_level(logging.WARNING, logger="recommendations"):
        response = client.post(reverse("login"), {"username": users[3].username, "password": "pw"})
        assert response.status_code == 302
        client.post(reverse("cart_add", args=[products[0].pk]))
        response = client.post(reverse("checkout"))
        assert response.status_code == 302
    assert Order.objects.filter(user=users[3]).count() == 1
    assert any("Could not enqueue" in r.getMessage() for r in caplog.records)


def test_with_the_broker_down_a_refresh_costs_one_warning_then_pauses(broker_down, caplog):
    with caplog.at_level(logging.WARNING, logger="recommendations"):
        assert enqueue_refresh(1) is False
        assert enqueue_refresh(2) is False  # paused: no second connection attempt

    failures = [r for r in caplog.records if "Could not enqueue" in r.getMessage()]
    assert [r.task for r in failures] == [PREFETCH_USER_TASK]


def test_impressions_reach_the_database_through_the_worker(client, stack, app_settings_for_tests):
    from recommendations.models import Impression
    from recommendations.tracking import events

    _, users = make_shop()
    events.buffer().clear()
    with override_settings(RECOMMENDATIONS={**app_settings_for_tests, "TRACKING": True}):
        client.force_login(users[2])
        for _ in range(3):
            assert client.get(reverse("home")).status_code == 200
        # One record_events message on the real broker; the worker inserts its batch.
        assert events.hand_off_buffered() == 3
    assert wait_for(lambda: Impression.objects.count() == 3 or None)
    assert events.dropped_total() == 0
