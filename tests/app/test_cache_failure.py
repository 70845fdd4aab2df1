"""A cache that fails never breaks the page: reads miss, writes drop, one WARNING, fast calls.

Faults injected: Django's RedisCache pointed at a closed port; a real redis-server killed while in
use and restarted on the same port; a real redis-server paused (SIGSTOP) so it accepts connections
but never answers; a backend that raises and then recovers (for the skip window and the logs).
"""

import logging
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings

from recommendations.backends.breaker import CLOSED, OPEN, CircuitBreaker
from recommendations.cache.access import CacheUnavailable, ResilientCache, get_cache
from recommendations.conf import app_settings
from recommendations.exceptions import EndpointTimeout
from tests.support.redis_process import (  # noqa: F401 (fixture "redis_server")
    redis_caches,
    redis_server_fixture,
)

MISSING = object()
CACHE_LOGGER = "recommendations.cache.access"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cache_warnings(caplog) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == CACHE_LOGGER and record.levelno == logging.WARNING
    ]


def exercise(cache: ResilientCache) -> dict:
    """Every operation of the cache API once; what each returned."""
    return {
        "get": cache.get("user:1", MISSING),
        "get_many": cache.get_many(["user:1", "user:2"]),
        "set": cache.set("user:1", {"items": [1, 2]}, 60),
        "set_many": cache.set_many({"user:1": 1, "user:2": 2}, 60),
        "add": cache.add("lock:1", 1, 60),
        "touch": cache.touch("user:1", 60),
        "delete": cache.delete("user:1"),
        "delete_many": cache.delete_many(["user:1", "user:2"]),
    }


WHEN_DOWN = {
    "get": MISSING,
    "get_many": {},
    "set": False,
    "set_many": False,
    "add": False,
    "touch": False,
    "delete": False,
    "delete_many": None,
}


# -- Redis at a closed port ---------------------------------------------------------------


@pytest.fixture
def closed_port_redis() -> Iterator[None]:
    with override_settings(CACHES=redis_caches(free_port())):
        yield


def test_reads_are_misses_and_writes_are_dropped_when_redis_is_unreachable(closed_port_redis):
    cache = ResilientCache()
    assert exercise(cache) == WHEN_DOWN
    assert not cache.available
    with pytest.raises(CacheUnavailable):
        cache.strict.get("user:1")


def test_an_unreachable_redis_logs_one_warning(closed_port_redis, caplog, settings):
    # Try the dead Redis on every call: the warning must still come once, not per call.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CACHE_RETRY_INTERVAL": 0.0}
    caplog.set_level(logging.INFO, logger="recommendations")
    cache = get_cache()
    for _ in range(20):
        exercise(cache)
    warnings = cache_warnings(caplog)
    assert len(warnings) == 1
    assert warnings[0].cache_alias == "default"
    assert warnings[0].operation == "get"
    assert warnings[0].error_class == "ConnectionError"
    assert warnings[0].exc_info is None, "a line, not a traceback"


def test_breaker_works_per_process_when_redis_is_unreachable(closed_port_redis, caplog):
    caplog.set_level(logging.WARNING, logger="recommendations")
    # Two breakers of the same name stand for two processes; with no cache they cannot agree.
    first = CircuitBreaker("endpoint", cache=ResilientCache())
    second = CircuitBreaker("endpoint", cache=ResilientCache())
    for _ in range(int(app_settings.BREAKER_FAILURES)):
        assert first.allow()
        first.record_failure(EndpointTimeout())
    assert first.state == OPEN
    assert not first.allow()
    assert second.state == CLOSED
    assert second.allow()
    opened = [r for r in caplog.records if r.name == "recommendations.backends.breaker"]
    assert [(r.state, r.scope) for r in opened] == [(OPEN, "process")]


# -- a backend that goes away and comes back ----------------------------------------------


class SwitchableCache(LocMemCache):
    """A real LocMemCache with a switch that makes every call raise ConnectionError.

    Stands for a Redis that goes away and comes back, where the test needs to count how often
    the backend is tried, which a real server cannot report.
    """

    down = False
    attempts = 0

    def _maybe_fail(self) -> None:
        type(self).attempts += 1
        if type(self).down:
            raise ConnectionError("Connection refused")

    def get(self, *args, **kwargs):
        self._maybe_fail()
        return super().get(*args, **kwargs)

    def set(self, *args, **kwargs):
        self._maybe_fail()
        return super().set(*args, **kwargs)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def switchable_cache() -> Iterator[type[SwitchableCache]]:
    caches = {"default": {"BACKEND": "tests.app.test_cache_failure.SwitchableCache"}}
    SwitchableCache.down, SwitchableCache.attempts = False, 0
    with override_settings(CACHES=caches):
        yield SwitchableCache
    SwitchableCache.down = False


def test_a_failed_cache_is_skipped_for_the_retry_interval(switchable_cache, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CACHE_RETRY_INTERVAL": 2.0}
    clock = Clock()
    cache = ResilientCache(clock=clock)
    switchable_cache.down = True
    assert cache.get("k", MISSING) is MISSING
    assert switchable_cache.attempts == 1
    for _ in range(10):
        assert cache.get("k", MISSING) is MISSING
    assert switchable_cache.attempts == 1, "calls within the interval must not reach the backend"
    clock.now += 2.0
    switchable_cache.down = False
    assert cache.set("k", "v")
    assert cache.get("k") == "v"
    assert switchable_cache.attempts == 3
    assert cache.available


def test_each_outage_logs_one_warning_and_its_recovery(switchable_cache, settings, caplog):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CACHE_RETRY_INTERVAL": 0.0}
    caplog.set_level(logging.INFO, logger="recommendations")
    cache = ResilientCache()
    for _ in range(2):
        switchable_cache.down = True
        for _ in range(5):
            cache.get("k")
            cache.set("k", 1)
        switchable_cache.down = False
        cache.get("k")
        cache.get("k")
    levels = [record.levelno for record in caplog.records if record.name == CACHE_LOGGER]
    assert levels == [logging.WARNING, logging.INFO, logging.WARNING, logging.INFO]
    recovered = [r for r in caplog.records if r.levelno == logging.INFO]
    assert all(record.outage_ms >= 0 for record in recovered)


def test_strict_incr_tells_a_missing_key_from_an_outage(switchable_cache):
    cache = ResilientCache()
    with pytest.raises(ValueError):
        cache.strict.incr("counter")
    assert cache.available, "a missing key is an answer, not an outage"


@pytest.mark.redis
def test_redis_killed_while_serving_then_restarted(redis_server, settings, caplog):
    # Try Redis on every call, so each call really meets the dead server.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CACHE_RETRY_INTERVAL": 0.0}
    caplog.set_level(logging.INFO, logger="recommendations")
    cache = get_cache()
    breaker = CircuitBreaker(f"endpoint-{uuid.uuid4().hex[:8]}")
    assert cache.set("user:1", "items")
    assert cache.get("user:1") == "items"
    assert breaker.allow()

    redis_server.kill()
    slowest = 0.0
    for _ in range(30):
        started = time.monotonic()
        assert exercise(cache) == WHEN_DOWN
        assert breaker.allow() in {True, False}
        breaker.record_failure(EndpointTimeout())
        slowest = max(slowest, time.monotonic() - started)
    # A generous budget: a refused connection costs about a millisecond; a hang would cost 5 s.
    assert slowest < 1.0
    assert len(cache_warnings(caplog)) == 1
    assert breaker.state == OPEN, "the breaker kept working on this process's own state"

    redis_server.start()
    assert cache.set("user:1", "again")
    assert cache.get("user:1") == "again"
    assert cache.available
    assert breaker.state == CLOSED, "back on the shared state, which the restart emptied"
    assert [r.levelno for r in caplog.records if r.name == CACHE_LOGGER] == [
        logging.WARNING,
        logging.INFO,
    ]


@pytest.mark.redis
def test_a_hung_redis_costs_one_socket_timeout_per_retry_interval(redis_server, caplog):
    caplog.set_level(logging.WARNING, logger="recommendations")
    cache = get_cache()
    assert cache.set("user:1", "items")
    redis_server.pause()
    started = time.monotonic()
    results = [cache.get("user:1", MISSING) for _ in range(20)]
    elapsed = time.monotonic() - started
    redis_server.resume()
    assert results == [MISSING] * 20
    # Expected about 0.1 s (one socket_timeout, then skipped). Without the shop's socket timeouts
    # one call waits redis-py's 5 s; without the skip window 20 calls wait 20 x 0.1 s.
    assert elapsed < 1.5
    assert len(cache_warnings(caplog)) == 1
    assert cache_warnings(caplog)[0].error_class == "TimeoutError"
