"""The page's endpoint call bounded by a deadline (serving/inline_calls.py) that counts from the start of
the page's request (serving/page_clock.py), and a late answer kept for the next page view.

The unit tests call plain functions that sleep or raise: they test the hand-off between the page
and the pool thread, which no endpoint is needed for. The integration tests go through real boto3
to the scripted SageMaker-shaped server, with socket timeouts far longer than the page's deadline,
so that only the deadline can end the page's wait.
"""

import re
import threading
import time

import pytest
from django.core.signals import request_started
from django.test import override_settings
from django.urls import reverse

from recommendations import service
from recommendations.exceptions import EndpointThrottled, EndpointTimeout
from recommendations.prefetch import entries
from recommendations.serving import inline_calls
from recommendations.serving.page_clock import META_KEY, page_started
from tests.support.celery_worker import wait_for
from tests.support.scripted_endpoint import (  # noqa: F401 (fixture)
    app_pointed_at,
    model_answer,
    ok,
    scripted_endpoint_fixture,
)
from tests.support.shop_data import make_shop

WIDGET = re.compile(r'<section class="recommendations"[^>]*data-source="(\w+)"')


def test_an_answer_within_the_deadline_is_the_pages():
    late = []
    assert inline_calls.call_within(lambda: 42, 1.0, endpoint="e", late=late.append) == 42
    assert late == []


def test_an_error_within_the_deadline_is_raised_in_the_page():
    def throttled():
        raise EndpointThrottled(endpoint="e")

    with pytest.raises(EndpointThrottled):
        inline_calls.call_within(throttled, 1.0, endpoint="e", late=lambda answer: None)


def test_the_page_stops_waiting_at_its_deadline_and_the_late_answer_is_kept():
    release = threading.Event()
    late = []

    def slow():
        release.wait(5)
        return "answer"

    started = time.monotonic()
    with pytest.raises(EndpointTimeout) as raised:
        inline_calls.call_within(slow, 0.05, endpoint="slow-endpoint", late=late.append)
    waited = time.monotonic() - started
    assert waited < 2.0  # generous: the point is that it does not wait the 5 s
    assert raised.value.endpoint == "slow-endpoint"
    assert raised.value.reason == "timeout"
    release.set()
    wait_for(lambda: late == ["answer"])


def test_a_late_failure_is_dropped_quietly(caplog):
    release = threading.Event()

    def slow_failure():
        release.wait(5)
        raise EndpointThrottled(endpoint="e")

    with pytest.raises(EndpointTimeout):
        inline_calls.call_within(slow_failure, 0.02, endpoint="e", late=lambda answer: None)
    release.set()
    time.sleep(0.1)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


@override_settings(RECOMMENDATIONS={"INLINE_CALL_THREADS": 1})
def test_a_page_that_finds_every_thread_taken_does_not_queue():
    release = threading.Event()
    with pytest.raises(EndpointTimeout):
        inline_calls.call_within(lambda: release.wait(5), 0.02, endpoint="e", late=print)
    started = time.monotonic()
    with pytest.raises(inline_calls.InlineCallsBusy):
        inline_calls.call_within(lambda: 1, 1.0, endpoint="e", late=print)
    assert time.monotonic() - started < 0.5
    release.set()
    # The thread is free again once the hanging call ends.
    wait_for(lambda: _answers(lambda: 7) == 7)


def _answers(call):
    try:
        return inline_calls.call_within(call, 1.0, endpoint="e", late=print)
    except inline_calls.InlineCallsBusy:
        return None


@pytest.mark.django_db  # request_started also runs Django's close_old_connections
def test_the_request_start_is_stamped_before_any_middleware(rf):
    environ = {}
    request_started.send(sender=None, environ=environ)
    assert isinstance(environ[META_KEY], float)
    request = rf.get("/")
    request.META[META_KEY] = 10.0
    assert page_started(request, default=20.0) == 10.0
    assert page_started(rf.get("/"), default=20.0) == 20.0  # no stamp: from the call
    assert page_started(object(), default=20.0) == 20.0  # a user, not a request


# -- through real boto3 and HTTP --------------------------------------------------------------

BUDGET_MS = 300


@pytest.fixture
def scripted(scripted_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with app_pointed_at(
        scripted_endpoint,
        ENDPOINT_NAME="scripted",
        BUDGET_MS=BUDGET_MS,
        # Socket timeouts far past the budget: only the page's deadline can end its wait.
        CONNECT_TIMEOUT=5.0,
        READ_TIMEOUT=5.0,
        CATALOG="tests.app.shop.catalog.ShopCatalog",
    ):
        yield scripted_endpoint


@pytest.mark.django_db
def test_a_slow_answer_ends_the_wait_at_the_deadline_and_fills_the_cache(client, scripted):
    _, users = make_shop()
    answer = ok(model_answer(*range(1, 17)))
    answer.delay = 1.0
    scripted.script(answer)
    client.force_login(users[3])
    started = time.monotonic()
    response = client.get(reverse("home"))
    elapsed_ms = (time.monotonic() - started) * 1000
    assert WIDGET.search(response.content.decode()).group(1) == "fallback"
    assert elapsed_ms < 1000  # the answer took 1 s; the page did not wait for it
    # The late answer is kept: the next page view is a cache hit with the model's items.
    wait_for(lambda: entries.read_entry(users[3].pk) is not None, timeout=10)
    response = client.get(reverse("home"))
    assert WIDGET.search(response.content.decode()).group(1) == "model"
    assert len(scripted.received) == 1


@pytest.mark.django_db
def test_a_page_that_used_its_budget_before_the_widget_does_not_call_the_endpoint(rf, scripted):
    _, users = make_shop()
    scripted.script(ok(model_answer(*range(1, 17))))
    request = rf.get("/")
    request.user = users[5]
    request.META[META_KEY] = time.monotonic() - BUDGET_MS / 1000  # the shop took it all
    recommendations = service.recommend(request, 8)
    assert recommendations.source == "fallback"
    assert recommendations.fallback_reason == "budget_exhausted"
    assert scripted.received == []
