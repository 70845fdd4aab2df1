"""Prometheus metrics: what a page view, an endpoint call and a breaker count, and who may read them."""

import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from recommendations.backends.breaker import get_breaker
from recommendations.exceptions import EndpointTimeout
from recommendations.ops import latency_window
from recommendations.prefetch import entries
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

CATALOG = "tests.app.shop.catalog.ShopCatalog"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def endpoint(use_shop_endpoint):
    return use_shop_endpoint(BUDGET_MS=300)


def test_renders_lookups_and_endpoint_calls_are_counted(client, endpoint):
    _, users = make_shop()
    before = {
        "model": sample("recommendations_widget_renders_total", source="model"),
        "anonymous": sample("recommendations_fallback_total", reason="anonymous"),
        "miss": sample("recommendations_cache_lookups_total", result="miss"),
        "fresh": sample("recommendations_cache_lookups_total", result="fresh"),
        "calls": sample(
            "recommendations_endpoint_latency_seconds_count", purpose="page", outcome="ok"
        ),
    }
    client.get(reverse("home"))  # anonymous: fallback
    client.force_login(users[0])
    client.get(reverse("home"))  # miss: the endpoint inline
    client.get(reverse("home"))  # fresh entry
    assert sample("recommendations_fallback_total", reason="anonymous") == before["anonymous"] + 1
    assert sample("recommendations_widget_renders_total", source="model") == before["model"] + 2
    assert sample("recommendations_cache_lookups_total", result="miss") == before["miss"] + 1
    assert sample("recommendations_cache_lookups_total", result="fresh") == before["fresh"] + 1
    assert (
        sample("recommendations_endpoint_latency_seconds_count", purpose="page", outcome="ok")
        == before["calls"] + 1
    )


def test_a_failed_call_is_counted_by_reason_and_the_open_breaker_shows(client, use_shop_endpoint):
    # A budget no loaded CI machine runs out of: the 500 must arrive, or the reason is "timeout".
    endpoint = use_shop_endpoint(BUDGET_MS=3000)
    _, users = make_shop()
    endpoint.set_fault("http500")
    client.force_login(users[1])
    failures = sample(
        "recommendations_endpoint_latency_seconds_count", purpose="page", outcome="unavailable"
    )
    client.get(reverse("home"))
    assert (
        sample(
            "recommendations_endpoint_latency_seconds_count",
            purpose="page",
            outcome="unavailable",
        )
        == failures + 1
    )
    breaker = get_breaker(endpoint.endpoint_name)
    for _ in range(10):
        breaker.record_failure(EndpointTimeout())
    entries.delete_entry(users[1].pk)
    client.get(reverse("home"))
    assert sample("recommendations_breaker_open", endpoint=endpoint.endpoint_name) == 1.0


def test_the_metrics_view_answers_allowed_addresses_and_staff_only(client, django_user_model):
    url = reverse("recommendations:metrics")
    response = client.get(url)  # the test client comes from 127.0.0.1, allowed by default
    assert response.status_code == 200
    assert b"recommendations_widget_renders_total" in response.content
    assert b"recommendations_prefetch_queue_lag_seconds" in response.content
    assert b"recommendations_events_dropped" in response.content

    outsider = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "127.0.0.1"}
    assert client.get(url, **outsider).status_code == 403
    customer = django_user_model.objects.create_user("shopper", password="pw")
    client.force_login(customer)
    assert client.get(url, **outsider).status_code == 403
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(url, **outsider).status_code == 200


def test_latency_window_percentiles_over_the_shared_cache():
    now = 1_800_000_000.0
    for _ in range(98):
        latency_window.record(8, now=now)
    latency_window.record(400, now=now - 120)
    latency_window.record(3000, now=now - 600)
    assert latency_window.percentile_ms(0.5, now=now) == 10
    assert latency_window.percentile_ms(0.99, now=now) == 500
    assert latency_window.percentile_ms(1.0, now=now) == 5000
    assert latency_window.percentile_ms(0.99, window_seconds=60, now=now) == 10
    assert latency_window.percentile_ms(0.99, now=now + 7200) is None
