"""A circuit breaker around the endpoint whose state lives in the shared cache, so every web
process and Celery worker stops calling a dead endpoint at once.

closed --(BREAKER_FAILURES failures in a row, or a failure rate of BREAKER_FAILURE_RATE over at
least BREAKER_MIN_CALLS calls in a BREAKER_WINDOW-second window)--> open
open --(BREAKER_COOLDOWN seconds)--> half_open: one caller in the whole fleet wins `cache.add` on a
probe key and calls the endpoint; everybody else is refused.
half_open --probe succeeds--> closed;  half_open --probe fails--> open for another cool-down.

One breaker per endpoint and production variant (`breaker_for`). Only errors with a true
`trips_breaker` count (`recommendations/exceptions.py`). While the cache is unavailable each
process keeps the same state in a private `LocMemCache`: per-process, never off. Not pybreaker: its
shared storage wants a raw redis client, it counts only consecutive failures, and its half-open
state lets every caller through. Times are wall-clock (`time.time`): they are compared across
machines. More in docs/availability.md, "The circuit breaker".
"""

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from django.core.cache.backends.locmem import LocMemCache

from ..cache import local_state
from ..cache.access import CacheUnavailable, ResilientCache, get_cache
from ..conf import app_settings

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

# The opened-at mark outlives any sane cool-down; if it expires anyway the breaker is simply closed.
STATE_TTL = 24 * 60 * 60
KEY_PREFIX = "recommendations:breaker"

T = TypeVar("T")


class _Store(Protocol):
    """What the breaker needs of a cache; both `StrictCache` and `LocMemCache` fit."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def add(self, key: str, value: Any, timeout: Any = ...) -> bool: ...
    def set(self, key: str, value: Any, timeout: Any = ...) -> Any: ...
    def delete(self, key: str) -> Any: ...
    def delete_many(self, keys: list[str]) -> Any: ...
    def incr(self, key: str, delta: int = 1) -> int: ...


def _counter(store: _Store, key: str, ttl: int) -> int:
    """Add one to the counter at `key`, creating it with an expiry; the new value."""
    try:
        return store.incr(key)
    except ValueError:
        if store.add(key, 1, ttl):
            return 1
    try:
        return store.incr(key)  # another process created it between our incr and add
    except ValueError:
        return 1


class CircuitBreaker:
    """One breaker per endpoint (or variant) name, shared through the cache."""

    def __init__(
        self,
        name: str,
        cache: ResilientCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._cache = cache or get_cache()
        self._clock = clock
        # Same state machine in process memory for when the shared cache is down.
        self._local = LocMemCache(f"recommendations-breaker-{uuid.uuid4().hex}", {"TIMEOUT": None})
        # The probe this thread won in allow(), answered by its record_success/record_failure.
        self._thread = threading.local()
        prefix = f"{KEY_PREFIX}:{name}"
        # While open, when this process will look at the shared state again: an opening lasts
        # its whole cool-down in every process, so until then allow() reads nothing.
        self._known_open_until = 0.0
        self._opened_key = f"{prefix}:opened_at"
        self._streak_key = f"{prefix}:failures_in_a_row"
        self._prefix = prefix

    # -- public interface ---------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "closed", "open" or "half_open" (cool-down over, a probe may go)."""
        return self._run(lambda store, scope: self._state_of(store.get(self._opened_key)))

    def allow(self) -> bool:
        """Whether a call may go to the endpoint now (False while open: no network at all)."""
        if self._clock() < self._known_open_until:
            # An opening this process saw is still cooling down: no cache read needed to refuse.
            return False
        return self._run(self._allow)

    def record_success(self) -> None:
        """Count a call that succeeded; a successful probe closes the breaker."""
        self._run(self._record_success)

    def record_failure(self, error: BaseException) -> None:
        """Count a failed call, if `error` says the endpoint is to blame; may open the breaker."""
        self._run(lambda store, scope: self._record_failure(store, scope, error))

    def seconds_until_probe(self) -> float:
        """How long the breaker stays open from now (0 when closed, or when a probe may go)."""

        def left(store: _Store, scope: str) -> float:
            opened_at = store.get(self._opened_key)
            if opened_at is None:
                return 0.0
            return max(0.0, opened_at + float(app_settings.BREAKER_COOLDOWN) - self._clock())

        return self._run(left)

    def reset(self) -> None:
        """Close the breaker and forget its counters (for operators and tests)."""
        self._thread.probe = None
        self._known_open_until = 0.0
        keys = [self._opened_key, self._streak_key, *self._window_keys(self._clock())]
        self._local.delete_many(keys)
        self._cache.delete_many(keys)

    # -- machinery ------------------------------------------------------------------------

    def _run(self, operation: Callable[[_Store, str], T]) -> T:
        try:
            return operation(self._cache.strict, "shared")
        except CacheUnavailable:
            # The cache logs the outage once; the breaker carries on with this process's state.
            return operation(self._local, "process")

    def _state_of(self, opened_at: float | None) -> str:
        # Anything but a number (a value the app did not write) reads as no opening.
        if not isinstance(opened_at, int | float) or isinstance(opened_at, bool):
            return CLOSED
        if self._clock() < opened_at + float(app_settings.BREAKER_COOLDOWN):
            return OPEN
        return HALF_OPEN

    def _window_keys(self, now: float) -> tuple[str, str]:
        window = int(now // max(float(app_settings.BREAKER_WINDOW), 1.0))
        return f"{self._prefix}:calls:{window}", f"{self._prefix}:failures:{window}"

    def _probe_key(self, opened_at: float) -> str:
        # One probe key per opening, so a reopened breaker never inherits an old probe's lock.
        return f"{self._prefix}:probe:{opened_at!r}"

    def _take_probe(self, store: _Store) -> float | None:
        """The opening this thread's pending call probes, if it is still the current one."""
        probe = getattr(self._thread, "probe", None)
        self._thread.probe = None
        # A probe that outlived its lock may answer after another probe closed or reopened the
        # breaker; its answer then counts as an ordinary call's.
        if probe is None or store.get(self._opened_key) != probe:
            return None
        return probe

    def _allow(self, store: _Store, scope: str) -> bool:
        # Each allow() starts a call; the record_*() that follows answers this one, not an
        # earlier call that never reported.
        self._thread.probe = None
        opened_at = store.get(self._opened_key)
        state = self._state_of(opened_at)
        if state == CLOSED:
            return True
        if state == OPEN:
            self._known_open_until = opened_at + float(app_settings.BREAKER_COOLDOWN)
            return False
        # The probe lock expires after a cool-down, in case its holder dies without answering.
        if not store.add(self._probe_key(opened_at), 1, self._cooldown_ttl()):
            return False
        self._thread.probe = opened_at
        self._log_transition(HALF_OPEN, scope, "cooldown_over")
        return True

    def _record_success(self, store: _Store, scope: str) -> None:
        now = self._clock()
        calls_key, failures_key = self._window_keys(now)
        if self._take_probe(store) is not None:
            # Closed with a clean slate: the failures that opened it must not reopen it at once.
            store.delete_many([self._opened_key, self._streak_key, calls_key, failures_key])
            self._log_transition(CLOSED, scope, "probe_succeeded")
            return
        _counter(store, calls_key, self._window_ttl())
        store.delete(self._streak_key)

    def _record_failure(self, store: _Store, scope: str, error: BaseException) -> None:
        probe = self._take_probe(store)
        if not getattr(error, "trips_breaker", True):
            if probe is not None:
                # The probe learnt nothing about the endpoint: let the next caller probe.
                store.delete(self._probe_key(probe))
            return
        now = self._clock()
        if probe is not None:
            store.set(self._opened_key, now, STATE_TTL)
            self._log_transition(OPEN, scope, "probe_failed", error=error)
            return
        calls_key, failures_key = self._window_keys(now)
        in_a_row = _counter(store, self._streak_key, STATE_TTL)
        calls = _counter(store, calls_key, self._window_ttl())
        failures = _counter(store, failures_key, self._window_ttl())
        failure_rate = failures / max(calls, failures)
        if in_a_row >= int(app_settings.BREAKER_FAILURES):
            reason = "failures_in_a_row"
        elif calls >= int(app_settings.BREAKER_MIN_CALLS) and failure_rate >= float(
            app_settings.BREAKER_FAILURE_RATE
        ):
            reason = "failure_rate"
        else:
            return
        # add(): when several processes cross the threshold together, one opens it and logs.
        if store.add(self._opened_key, now, STATE_TTL):
            self._log_transition(
                OPEN,
                scope,
                reason,
                error=error,
                failures_in_a_row=in_a_row,
                failure_rate=round(failure_rate, 3),
                calls_in_window=calls,
            )

    def _cooldown_ttl(self) -> int:
        # Whole seconds of at least 1: Redis truncates a timeout to int, and 0 would mean "now".
        return max(int(app_settings.BREAKER_COOLDOWN), 1)

    def _window_ttl(self) -> int:
        return max(int(2 * float(app_settings.BREAKER_WINDOW)), 1)

    def _log_transition(
        self, state: str, scope: str, reason: str, error: BaseException | None = None, **extra: Any
    ) -> None:
        logger.warning(
            "Recommendations breaker %r is now %s (%s)",
            self.name,
            state,
            reason,
            extra={
                "breaker": self.name,
                "state": state,
                "reason": reason,
                "scope": scope,
                "error_class": type(error).__name__ if error is not None else None,
                "cooldown_s": float(app_settings.BREAKER_COOLDOWN),
                **extra,
            },
        )


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def get_breaker(name: str = "endpoint") -> CircuitBreaker:
    """The process's breaker for endpoint (or variant) `name`."""
    breaker = _breakers.get(name)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.setdefault(name, CircuitBreaker(name))
    return breaker


def breaker_name(target_variant: str | None = None) -> str:
    """The breaker's name for calls to `target_variant` (None: whatever the endpoint routes to)."""
    endpoint = str(app_settings.ENDPOINT_NAME or "endpoint")
    variant = target_variant or app_settings.TARGET_VARIANT or None
    return f"{endpoint}:variant:{variant}" if variant else endpoint


def breaker_for(target_variant: str | None = None) -> CircuitBreaker:
    """The breaker guarding calls to the configured endpoint and `target_variant`."""
    return get_breaker(breaker_name(target_variant))


def _forget_breakers() -> None:
    with _breakers_lock:
        _breakers.clear()


def _new_lock_after_fork() -> None:
    # The parent's lock may be held by one of its threads, which the child does not have.
    global _breakers_lock
    _breakers_lock = threading.Lock()
    _forget_breakers()


# Tests swap CACHES or RECOMMENDATIONS; a breaker opened in one test's process-memory state
# must not refuse calls in the next test.
local_state.register(
    "breakers",
    drop=_forget_breakers,
    settings={"CACHES", "RECOMMENDATIONS"},
    after_fork=_new_lock_after_fork,
)
