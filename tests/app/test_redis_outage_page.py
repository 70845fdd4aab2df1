"""The page with the cache itself failing: Redis unreachable, or killed while serving.

Reads count as misses and writes are dropped, so the widget comes from the endpoint inline (the
breaker keeps a per-process state) or from the fallback, within the budget; never a 500.
"""

import time

import pytest
from django.test import override_settings
from django.urls import reverse

from tests.app.test_widget_integration import BUDGET_MS, LIMIT, widget
from tests.support.redis_process import free_port, redis_caches, redis_server_fixture  # noqa: F401
from tests.support.shop_data import make_shop

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def endpoint(use_shop_endpoint):
    return use_shop_endpoint(BUDGET_MS=BUDGET_MS)


def timed_home(client) -> tuple[str, list[str], float]:
    started = time.monotonic()
    response = client.get(reverse("home"))
    elapsed_ms = (time.monotonic() - started) * 1000
    source, items = widget(response)
    return source, items, elapsed_ms


def test_redis_at_a_closed_port_still_serves_the_models_widget(client, endpoint):
    _, users = make_shop()
    with override_settings(CACHES=redis_caches(free_port())):
        client.force_login(users[0])
        for _ in range(3):
            source, items, elapsed_ms = timed_home(client)
            assert (source, len(items)) == ("model", LIMIT)
            assert elapsed_ms < BUDGET_MS + 2000  # generous: timing belongs in bench/outage.py
    # Nothing could be cached, so every page asked the endpoint inline.
    assert endpoint.invocations() == 3


def test_redis_killed_while_serving_keeps_the_page_up(client, endpoint, redis_server):
    _, users = make_shop()
    client.force_login(users[1])
    before, items_before, _ = timed_home(client)
    assert (before, len(items_before)) == ("model", LIMIT)
    assert endpoint.invocations() == 1

    redis_server.kill()
    for _ in range(3):
        source, items, elapsed_ms = timed_home(client)
        assert len(items) == LIMIT
        assert source in {"model", "fallback"}
        assert elapsed_ms < BUDGET_MS + 2000

    redis_server.start()
    source, items, _ = timed_home(client)
    assert (source, len(items)) == ("model", LIMIT)


def test_sessions_in_a_dead_redis_do_not_matter_to_the_widget(client, endpoint, redis_server):
    """The anonymous page with Redis down: fallback widget, no endpoint call, no error."""
    make_shop()
    redis_server.kill()
    source, items, _ = timed_home(client)
    assert (source, len(items)) == ("fallback", LIMIT)
    assert endpoint.invocations() == 0
