"""The app's one door to the cache: a cache that fails (Redis stopped, unreachable, timing out)
never breaks the page.

`get_cache()` wraps `caches[app_settings.CACHE_ALIAS]`. Through it, any exception from the cache
backend makes a read a miss and drops a write; the first failure logs one WARNING for the whole
outage and the recovery logs one INFO. After a failure the backend is skipped for
`CACHE_RETRY_INTERVAL` seconds, so a Redis that hangs costs one socket timeout per interval rather
than one per call (the socket timeouts themselves belong in the cache's OPTIONS, see
`demo_shop/settings.py`).

Callers that must tell an outage from a miss (the circuit breaker falls back to a per-process
state) use `get_cache().strict`, whose methods raise `CacheUnavailable` instead.

Values go in and come out in the app's own format (`cache/values.py`): JSON text, or a whole number.
A value read back in any other form is a miss.
"""

import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from ..conf import app_settings
from . import local_state
from .values import MISSING, decode, encode

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What a backend raises for a value it cannot turn back into an object (a pickle serializer on
# text that is no pickle, django-redis' JSON serializer on text that is no JSON): an answer about
# one value, read as a miss, not an outage of the cache.
UNREADABLE = (ValueError, pickle.UnpicklingError)


class CacheUnavailable(Exception):
    """The cache backend failed (or is being skipped after a recent failure)."""


class _Outage:
    """When the cache went down in this process, and when to try it again."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.retry_at = 0.0

    def skipping(self) -> bool:
        return self.down_since is not None and self._clock() < self.retry_at

    def failed(self, alias: str, operation: str, error: BaseException) -> None:
        now = self._clock()
        with self._lock:
            first = self.down_since is None
            if first:
                self.down_since = now
            self.retry_at = now + float(app_settings.CACHE_RETRY_INTERVAL)
        if first:
            # One line per outage: a page view must not add a traceback per cache call.
            logger.warning(
                "Recommendations cache %r unavailable (%s); reads are misses and writes are "
                "dropped until it answers again",
                alias,
                type(error).__name__,
                extra={
                    "cache_alias": alias,
                    "operation": operation,
                    "error_class": type(error).__name__,
                    "retry_interval_s": float(app_settings.CACHE_RETRY_INTERVAL),
                },
            )

    def succeeded(self, alias: str) -> None:
        if self.down_since is None:
            return
        with self._lock:
            down_since, self.down_since = self.down_since, None
        if down_since is not None:
            outage_ms = round((self._clock() - down_since) * 1000, 1)
            logger.info(
                "Recommendations cache %r available again after %.0f ms",
                alias,
                outage_ms,
                extra={"cache_alias": alias, "outage_ms": outage_ms},
            )

    def reset(self) -> None:
        with self._lock:
            self.down_since = None
            self.retry_at = 0.0

    def after_fork(self) -> None:
        # The parent's lock may be held by one of its threads, which the child does not have.
        self._lock = threading.Lock()
        self.reset()


class StrictCache:
    """The cache API, raising `CacheUnavailable` when the backend fails."""

    def __init__(self, alias: str | None, outage: _Outage) -> None:
        self._alias = alias
        self._outage = outage

    @property
    def alias(self) -> str:
        """The cache alias in use (the `CACHE_ALIAS` setting unless given)."""
        return self._alias or str(app_settings.CACHE_ALIAS)

    def _call(
        self,
        operation: str,
        call: Callable[[BaseCache], T],
        passthrough: tuple[type[BaseException], ...] = (),
    ) -> T:
        alias = self.alias
        if self._outage.skipping():
            raise CacheUnavailable(f"cache {alias!r} is down; skipped")
        try:
            result = call(caches[alias])
        except passthrough:
            self._outage.succeeded(alias)
            raise
        except Exception as error:
            self._outage.failed(alias, operation, error)
            raise CacheUnavailable(f"cache {alias!r} failed on {operation}") from error
        self._outage.succeeded(alias)
        return result

    def _read(self, operation: str, call: Callable[[BaseCache], Any], unreadable: Any) -> Any:
        try:
            return self._call(operation, call, passthrough=UNREADABLE)
        except UNREADABLE as error:
            logger.warning(
                "Recommendations cache %r holds a value the app cannot read (%s); a miss",
                self.alias,
                type(error).__name__,
                extra={"cache_alias": self.alias, "error_class": type(error).__name__},
            )
            return unreadable

    def get(self, key: str, default: Any = None) -> Any:
        """The value at `key`, or `default` on a miss (a value not in the app's format is one)."""
        value = decode(self._read("get", lambda cache: cache.get(key), None))
        return default if value is MISSING or value is None else value

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The keys that are present in the app's format, with their values."""
        keys = list(keys)
        found = self._read("get_many", lambda cache: cache.get_many(keys), {})
        values = {}
        for key, raw in found.items():
            value = decode(raw)
            if value is not MISSING:
                values[key] = value
        return values

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> None:
        """Store `value` (JSON-serialisable) at `key`."""
        stored = encode(value)
        self._call("set", lambda cache: cache.set(key, stored, timeout))

    def set_many(self, data: Mapping[str, Any], timeout: Any = DEFAULT_TIMEOUT) -> list[str]:
        """Store several values; returns the keys the backend failed to store."""
        stored = {key: encode(value) for key, value in data.items()}
        return self._call("set_many", lambda cache: cache.set_many(stored, timeout))

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        """Store `value` only if `key` is absent; True when this call stored it."""
        stored = encode(value)
        return bool(self._call("add", lambda cache: cache.add(key, stored, timeout)))

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        """Give `key` a new expiry; True when the key exists."""
        return bool(self._call("touch", lambda cache: cache.touch(key, timeout)))

    def delete(self, key: str) -> bool:
        """Remove `key`; True when it existed."""
        return bool(self._call("delete", lambda cache: cache.delete(key)))

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys."""
        keys = list(keys)
        self._call("delete_many", lambda cache: cache.delete_many(keys))

    def incr(self, key: str, delta: int = 1) -> int:
        """Add `delta` to the integer at `key`; ValueError when the key is missing."""
        # Django signals a missing key with ValueError: an answer from the cache, not an outage.
        return self._call("incr", lambda cache: cache.incr(key, delta), passthrough=(ValueError,))


class ResilientCache:
    """The cache API where a failing backend reads as a miss and drops writes."""

    def __init__(self, alias: str | None = None, clock: Callable[[], float] = time.monotonic):
        self._outage = _Outage(clock)
        self.strict = StrictCache(alias, self._outage)

    @property
    def alias(self) -> str:
        """The cache alias in use."""
        return self.strict.alias

    @property
    def available(self) -> bool:
        """False from a failure until the backend answers again."""
        return self._outage.down_since is None

    def forget_outage(self) -> None:
        """Try the backend on the next call, as if it had never failed."""
        self._outage.reset()

    def _quietly(self, call: Callable[[], T], when_down: T) -> T:
        try:
            return call()
        except CacheUnavailable:
            return when_down

    def get(self, key: str, default: Any = None) -> Any:
        """The value at `key`; `default` on a miss or when the cache is down."""
        return self._quietly(lambda: self.strict.get(key, default), default)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The keys that are present, with their values; {} when the cache is down."""
        return self._quietly(lambda: self.strict.get_many(keys), {})

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        """Store `value`; False when the write was dropped because the cache is down."""
        try:
            self.strict.set(key, value, timeout)
        except CacheUnavailable:
            return False
        return True

    def set_many(self, data: Mapping[str, Any], timeout: Any = DEFAULT_TIMEOUT) -> bool:
        """Store several values; False when any of them was dropped."""
        return self._quietly(lambda: not self.strict.set_many(data, timeout), False)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        """Store `value` if `key` is absent; False when present or when the cache is down."""
        # False while down: callers use add() as a cross-process lock ("only one refresh"), and
        # without the cache nobody can know who holds it, so the safe answer is "not yours".
        return self._quietly(lambda: self.strict.add(key, value, timeout), False)

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        """Give `key` a new expiry; False when it is missing or the cache is down."""
        return self._quietly(lambda: self.strict.touch(key, timeout), False)

    def delete(self, key: str) -> bool:
        """Remove `key`; False when it was missing or the cache is down."""
        return self._quietly(lambda: self.strict.delete(key), False)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys (dropped when the cache is down)."""
        self._quietly(lambda: self.strict.delete_many(keys), None)


_default_cache = ResilientCache()


def get_cache() -> ResilientCache:
    """The process-wide resilient cache on `app_settings.CACHE_ALIAS`."""
    return _default_cache


# Tests swap CACHES or RECOMMENDATIONS with override_settings; an outage seen under the old
# settings must not make the next test skip a healthy cache.
local_state.register(
    "cache_outage",
    drop=_default_cache.forget_outage,
    settings={"CACHES", "RECOMMENDATIONS"},
    after_fork=_default_cache._outage.after_fork,
)
