"""The circuit breaker: when it opens, how long it stays open, the single probe, shared state."""

import logging
import uuid

import pytest
import redis
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings

from recommendations.backends.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, get_breaker
from recommendations.cache.access import ResilientCache
from recommendations.exceptions import (
    EndpointRejected,
    EndpointTimeout,
    EndpointUnavailable,
)

BREAKER_SETTINGS = {
    "BREAKER_FAILURES": 3,
    "BREAKER_COOLDOWN": 30,
    "BREAKER_WINDOW": 60,
    "BREAKER_FAILURE_RATE": 0.5,
    "BREAKER_MIN_CALLS": 10,
}


class Clock:
    """A wall clock the test moves by hand, shared by breakers that stand for two processes."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingLocMemCache(LocMemCache):
    """A real LocMemCache that counts the calls it receives, to see what allow() costs."""

    calls: list[str] = []

    def get(self, *args, **kwargs):
        self.calls.append("get")
        return super().get(*args, **kwargs)

    def get_many(self, *args, **kwargs):
        self.calls.append("get_many")
        return super().get_many(*args, **kwargs)

    def add(self, *args, **kwargs):
        self.calls.append("add")
        return super().add(*args, **kwargs)

    def set(self, *args, **kwargs):
        self.calls.append("set")
        return super().set(*args, **kwargs)


@pytest.fixture(autouse=True)
def breaker_settings(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, **BREAKER_SETTINGS}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shared_cache() -> ResilientCache:
    # The test settings' default cache is a LocMemCache: one store both "processes" see.
    cache = ResilientCache()
    cache.strict.get("warm-up")
    return cache


@pytest.fixture
def two_processes(shared_cache, clock) -> tuple[CircuitBreaker, CircuitBreaker]:
    """Two breakers with the same name over one cache, as two web processes would have."""
    name = f"endpoint-{uuid.uuid4().hex[:8]}"
    return (
        CircuitBreaker(name, cache=shared_cache, clock=clock),
        CircuitBreaker(name, cache=shared_cache, clock=clock),
    )


def open_it(breaker: CircuitBreaker) -> None:
    for _ in range(BREAKER_SETTINGS["BREAKER_FAILURES"]):
        assert breaker.allow()
        breaker.record_failure(EndpointTimeout(endpoint="e"))


def breaker_messages(caplog) -> list[tuple[int, str, str]]:
    return [
        (record.levelno, record.state, record.reason)
        for record in caplog.records
        if record.name == "recommendations.backends.breaker"
    ]


def test_opens_after_consecutive_failures(two_processes):
    breaker, _ = two_processes
    for _ in range(BREAKER_SETTINGS["BREAKER_FAILURES"] - 1):
        assert breaker.allow()
        breaker.record_failure(EndpointUnavailable(status_code=503))
    assert breaker.state == CLOSED
    assert breaker.allow()
    breaker.record_failure(EndpointUnavailable(status_code=503))
    assert breaker.state == OPEN
    assert not breaker.allow()


def test_a_success_breaks_the_streak(two_processes, settings):
    # Judge the streak alone: two failures in three calls would otherwise trip the rate.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "BREAKER_MIN_CALLS": 1000}
    breaker, _ = two_processes
    for _ in range(5):
        for _ in range(BREAKER_SETTINGS["BREAKER_FAILURES"] - 1):
            breaker.record_failure(EndpointTimeout())
        breaker.record_success()
    assert breaker.state == CLOSED


def test_opens_on_failure_rate_over_the_window(two_processes):
    breaker, _ = two_processes
    # Alternating results never make 3 failures in a row, but half of the calls fail.
    for _ in range(4):
        breaker.record_success()
        breaker.record_failure(EndpointTimeout())
    assert breaker.state == CLOSED, "8 calls is under BREAKER_MIN_CALLS"
    breaker.record_success()
    breaker.record_failure(EndpointTimeout())
    assert breaker.state == OPEN


def test_failure_rate_below_the_threshold_stays_closed(two_processes):
    breaker, _ = two_processes
    for _ in range(20):
        breaker.record_success()
        breaker.record_success()
        breaker.record_failure(EndpointTimeout())
    assert breaker.state == CLOSED


def test_failure_rate_starts_again_in_a_new_window(two_processes, clock):
    breaker, _ = two_processes
    for _ in range(4):
        breaker.record_success()
        breaker.record_failure(EndpointTimeout())
    clock.advance(BREAKER_SETTINGS["BREAKER_WINDOW"])
    for _ in range(4):
        breaker.record_success()
        breaker.record_failure(EndpointTimeout())
    assert breaker.state == CLOSED, "16 calls, but never 10 in one window"


def test_validation_errors_do_not_count(two_processes):
    breaker, _ = two_processes
    for _ in range(50):
        assert breaker.allow()
        breaker.record_failure(EndpointRejected(status_code=400))
    assert breaker.state == CLOSED


def test_errors_without_the_attribute_count():
    breaker = CircuitBreaker(f"plain-{uuid.uuid4().hex[:8]}", cache=ResilientCache())
    for _ in range(BREAKER_SETTINGS["BREAKER_FAILURES"]):
        breaker.record_failure(ConnectionResetError())
    assert breaker.state == OPEN


def test_stays_open_for_the_cooldown(two_processes, clock):
    breaker, _ = two_processes
    open_it(breaker)
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"] - 0.001)
    assert breaker.state == OPEN
    assert not breaker.allow()
    clock.advance(0.001)
    assert breaker.state == HALF_OPEN


def test_state_is_shared_between_processes(two_processes):
    first, second = two_processes
    open_it(first)
    assert second.state == OPEN
    assert not second.allow()


def test_failures_from_two_processes_add_up(two_processes):
    first, second = two_processes
    first.record_failure(EndpointTimeout())
    second.record_failure(EndpointTimeout())
    assert first.state == CLOSED
    first.record_failure(EndpointTimeout())
    assert second.state == OPEN


def test_half_open_lets_exactly_one_probe_through(two_processes, clock):
    first, second = two_processes
    open_it(first)
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    allowed = [second.allow(), first.allow(), second.allow(), first.allow()]
    assert allowed == [True, False, False, False]


def test_probe_success_closes(two_processes, clock):
    first, second = two_processes
    open_it(first)
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert second.allow()
    second.record_success()
    assert first.state == CLOSED
    assert first.allow()
    # A clean slate: the failures that opened it do not reopen it on the next one.
    first.record_failure(EndpointTimeout())
    assert first.state == CLOSED


def test_probe_failure_reopens_for_another_cooldown(two_processes, clock):
    first, second = two_processes
    open_it(first)
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert second.allow()
    second.record_failure(EndpointTimeout())
    assert first.state == OPEN
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"] - 1)
    assert not first.allow()
    clock.advance(1)
    # The new opening has its own probe: the failed probe's lock does not block it.
    assert first.allow()
    assert not second.allow()


def test_probe_with_a_validation_error_hands_the_probe_on(two_processes, clock):
    first, second = two_processes
    open_it(first)
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert first.allow()
    first.record_failure(EndpointRejected(status_code=400))
    assert first.state == HALF_OPEN
    assert second.allow()


def test_a_probe_answering_after_the_breaker_closed_counts_as_an_ordinary_call(
    two_processes, clock
):
    first, second = two_processes
    open_it(first)
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert first.allow()
    second.reset()  # an operator closes it while the probe is still out
    first.record_failure(EndpointTimeout())
    assert second.state == CLOSED, "one failure, not a failed probe that reopens"


def test_a_probe_that_never_answered_does_not_steer_the_next_call(two_processes, clock):
    first, second = two_processes
    open_it(first)
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert first.allow()  # the probe's call dies without record_success/record_failure
    second.reset()
    assert first.allow()
    first.record_failure(EndpointTimeout())
    assert second.state == CLOSED


def test_transitions_are_logged_once_at_warning(two_processes, clock, caplog):
    first, second = two_processes
    caplog.set_level(logging.DEBUG, logger="recommendations")
    # Both processes cross the threshold; only one of them opens the breaker and says so.
    for _ in range(BREAKER_SETTINGS["BREAKER_FAILURES"]):
        first.record_failure(EndpointTimeout())
        second.record_failure(EndpointTimeout())
    for _ in range(3):
        assert not first.allow()
        assert not second.allow()
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert first.allow()
    assert not second.allow()
    first.record_failure(EndpointTimeout())
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert second.allow()
    second.record_success()
    assert breaker_messages(caplog) == [
        (logging.WARNING, OPEN, "failures_in_a_row"),
        (logging.WARNING, HALF_OPEN, "cooldown_over"),
        (logging.WARNING, OPEN, "probe_failed"),
        (logging.WARNING, HALF_OPEN, "cooldown_over"),
        (logging.WARNING, CLOSED, "probe_succeeded"),
    ]
    opened = next(r for r in caplog.records if r.name == "recommendations.backends.breaker")
    assert opened.breaker == first.name
    assert opened.error_class == "EndpointTimeout"
    assert opened.scope == "shared"


def test_allow_while_closed_is_one_cache_read(clock):
    with override_settings(
        CACHES={"default": {"BACKEND": "tests.app.test_breaker.CountingLocMemCache"}}
    ):
        breaker = CircuitBreaker("counted", cache=ResilientCache(), clock=clock)
        CountingLocMemCache.calls.clear()
        assert breaker.allow()
        assert CountingLocMemCache.calls == ["get"]


def test_allow_while_open_reads_the_cache_once_per_cool_down(clock):
    with override_settings(
        CACHES={"default": {"BACKEND": "tests.app.test_breaker.CountingLocMemCache"}}
    ):
        breaker = CircuitBreaker("counted-open", cache=ResilientCache(), clock=clock)
        open_it(breaker)
        CountingLocMemCache.calls.clear()
        assert not breaker.allow()
        assert CountingLocMemCache.calls == ["get"]  # sees the opening
        clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"] - 1)
        for _ in range(5):
            assert not breaker.allow()
        assert CountingLocMemCache.calls == ["get"]  # the rest of the cool-down costs nothing
        clock.advance(1)
        assert breaker.allow()  # the probe: the shared state is read again
        assert breaker.state == HALF_OPEN


def test_an_opening_seen_elsewhere_still_lets_this_process_probe_when_it_cools_down(
    two_processes, clock
):
    first, second = two_processes
    open_it(first)
    assert not second.allow()
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert second.allow()  # the one probe
    assert not first.allow()
    second.record_success()
    assert first.allow() and first.state == CLOSED


def test_get_breaker_is_one_per_name():
    assert get_breaker("endpoint-a") is get_breaker("endpoint-a")
    assert get_breaker("endpoint-a") is not get_breaker("endpoint-b")
    assert get_breaker().name == "endpoint"


def test_reset_closes(two_processes):
    first, second = two_processes
    open_it(first)
    second.reset()
    assert first.state == CLOSED


# -- with the real Redis cache --------------------------------------------------------------


@pytest.fixture
def redis_cache_settings(redis_url):
    """Django's RedisCache on the test Redis (DB 15), under a key prefix this test owns."""
    prefix = f"test-breaker-{uuid.uuid4().hex[:8]}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with override_settings(CACHES=caches):
        yield
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_shared_state_through_real_redis(redis_cache_settings, clock, caplog):
    caplog.set_level(logging.WARNING, logger="recommendations")
    name = "redis-shared"
    first = CircuitBreaker(name, cache=ResilientCache(), clock=clock)
    second = CircuitBreaker(name, cache=ResilientCache(), clock=clock)
    open_it(first)
    assert second.state == OPEN
    assert not second.allow()
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert second.allow()
    assert not first.allow()
    second.record_success()
    assert first.state == CLOSED
    assert {record.scope for record in caplog.records if hasattr(record, "scope")} == {"shared"}


# -- whose fault: one request's input, or the endpoint ---------------------------------------


def test_a_model_error_for_one_requests_input_does_not_count(two_processes):
    from recommendations.exceptions import EndpointModelError

    breaker, _ = two_processes
    # SageMaker's ModelError when the container answered 400 (e.g. an exclude list too long).
    for _ in range(2 * BREAKER_SETTINGS["BREAKER_FAILURES"]):
        assert breaker.allow()
        breaker.record_failure(EndpointModelError(status_code=424, original_status_code=400))
    assert breaker.state == CLOSED


def test_a_model_error_of_a_failing_container_counts(two_processes):
    from recommendations.exceptions import EndpointModelError

    breaker, _ = two_processes
    for _ in range(BREAKER_SETTINGS["BREAKER_FAILURES"]):
        breaker.record_failure(EndpointModelError(status_code=424, original_status_code=500))
    assert breaker.state == OPEN


def test_breakers_are_named_by_endpoint_and_variant(settings):
    from recommendations.backends.breaker import breaker_for

    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ENDPOINT_NAME": "shop-recs"}
    assert breaker_for().name == "shop-recs"
    assert breaker_for("B").name == "shop-recs:variant:B"
    assert breaker_for("B") is not breaker_for()
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TARGET_VARIANT": "A"}
    assert breaker_for().name == "shop-recs:variant:A"


def test_seconds_until_probe_counts_down_the_cool_down(two_processes, clock):
    first, second = two_processes
    assert first.seconds_until_probe() == 0
    open_it(first)
    clock.advance(10)
    assert second.seconds_until_probe() == BREAKER_SETTINGS["BREAKER_COOLDOWN"] - 10
    clock.advance(BREAKER_SETTINGS["BREAKER_COOLDOWN"])
    assert second.seconds_until_probe() == 0
