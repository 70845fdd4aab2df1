"""Prefetched entries and the catalog version kept in each web process until they change, so that a
user's further pages in a process read no cache at all (on a cache hit, the round trip to Redis is
the largest part of the widget's cost: docs/performance.md).

On a Redis cache every change to a kept key is published on a Redis channel; each web process
that keeps keys listens from a daemon thread and drops what changed. A key is kept for
NEAR_CACHE_SECONDS at most, and only while the thread is subscribed (the copy empties whenever the
connection drops, since messages may have been missed). A page whose keys are not all kept reads
the cache in one round trip and keeps what it read.

Changes go through this module's `store`, `add` and `delete_many`, which write and then publish.
A change made behind the app's back is seen within NEAR_CACHE_SECONDS. A read keeps its values
only if no key was dropped while it was in flight (a generation count). Other cache backends have
no channel: every page reads the cache, as with NEAR_CACHE_SECONDS = 0.
"""

import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.cache import caches

from ..conf import app_settings
from . import local_state
from .access import get_cache

logger = logging.getLogger(__name__)

CHANNEL = "recommendations:near-cache"  # see channel_name()
MAX_KEYS = 20_000  # per process; an entry is well under 1 kB
RETRY_SECONDS = 1.0  # after the listener's connection failed
PING_SECONDS = 5.0  # the listener pings its connection this often, and gives it as long to answer


def redis_client(alias: str) -> Any | None:
    """A redis-py client of the cache `alias`, or None when the backend is not a Redis one."""
    try:
        backend = caches[alias]
    except Exception:
        return None
    for owner in (getattr(backend, "client", None), getattr(backend, "_cache", None)):
        get_client = getattr(owner, "get_client", None)  # django-redis, Django's RedisCache
        if get_client is not None:
            client = get_client(write=True)
            return client if hasattr(client, "pubsub") else None
    return None


def channel_name(alias: str, client: Any) -> str:
    """The channel of the cache `alias`: channels are shared by a Redis server's databases, keys
    are not, so the database number is part of the name (with the cache's prefix and version)."""
    database = client.connection_pool.connection_kwargs.get("db", 0)
    return f"{caches[alias].make_key(CHANNEL)}:db{database}"


class NearCache:
    """This process's kept keys and the thread that drops them when they change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._generation = 0
        self._live = False  # subscribed: kept keys are dropped when they change
        self._supported: dict[str, bool] = {}
        self._listener: tuple[str, threading.Thread, threading.Event] | None = None

    # -- readers and writers ---------------------------------------------------------------

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The cache's values of `keys` (missing keys absent), kept ones without a round trip."""
        cache = get_cache()
        seconds = float(app_settings.NEAR_CACHE_SECONDS or 0)
        if seconds <= 0 or not self._is_supported(cache.alias):
            return cache.get_many(keys)
        self._listen_to(cache.alias)
        if self._live:
            now = time.monotonic()
            found = {}
            for key in keys:
                kept = self._values.get(key)
                if kept is None or kept[0] <= now:
                    break
                found[key] = kept[1]
            else:
                return found
        generation = self._generation
        values = cache.get_many(keys)
        if values:
            self._keep(values, generation, seconds)
        return values

    def changed(self, keys: Iterable[str]) -> None:
        """Tell every process that `keys` changed in the cache (call it after the write)."""
        keys = list(keys)
        self._forget(keys)
        alias = get_cache().alias
        # Published even with NEAR_CACHE_SECONDS 0 here: the writer may be a Celery worker whose
        # settings differ from the web processes' that keep the keys.
        if not self._is_supported(alias):
            return
        try:
            client = redis_client(alias)
            client.publish(channel_name(alias, client), json.dumps(keys))
        except Exception as error:
            # The write itself most likely failed too; other processes see it within
            # NEAR_CACHE_SECONDS, or at once if their listener reconnects meanwhile.
            logger.info(
                "Recommendations could not announce a cache change (%s)",
                type(error).__name__,
                extra={"error_class": type(error).__name__},
            )

    @property
    def live(self) -> bool:
        """Whether the listener is subscribed, so that this process keeps keys."""
        return self._live

    def stop(self) -> None:
        """Stop the listener and forget everything (settings changed; tests)."""
        with self._lock:
            listener, self._listener = self._listener, None
            self._supported.clear()
        if listener is not None:
            listener[2].set()
        self._go_dark()

    # -- the kept keys ---------------------------------------------------------------------

    def _keep(self, values: dict[str, Any], generation: int, seconds: float) -> None:
        with self._lock:
            if not self._live or self._generation != generation:
                return  # a key changed while this read was in flight: it may be stale already
            expires = time.monotonic() + seconds
            for key, value in values.items():
                self._values[key] = (expires, value)
                self._values.move_to_end(key)
            while len(self._values) > MAX_KEYS:
                self._values.popitem(last=False)

    def _forget_announced(self, data: Any) -> None:
        """Drop the keys a message names; a message not in the app's format drops everything."""
        try:
            keys = json.loads(data)
        except (ValueError, TypeError, RecursionError):
            keys = None
        if isinstance(keys, list) and all(isinstance(key, str) for key in keys):
            self._forget(keys)
        else:
            # Someone else publishes on the channel: what changed is unknown, so nothing kept
            # can be trusted (and the listener must not die on it).
            with self._lock:
                self._generation += 1
                self._values.clear()

    def _forget(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._generation += 1
            for key in keys:
                self._values.pop(key, None)

    def _go_live(self, stop: threading.Event) -> None:
        with self._lock:
            if self._listener is None or self._listener[2] is not stop:
                return  # a listener that was replaced (the settings changed) decides nothing
            self._generation += 1
            self._values.clear()  # what was kept before may have changed unannounced
            self._live = True

    def _go_dark(self, stop: threading.Event | None = None) -> None:
        with self._lock:
            if stop is not None and (self._listener is None or self._listener[2] is not stop):
                return  # a replaced listener's failure says nothing of the current one
            self._live = False
            self._generation += 1
            self._values.clear()

    # -- the listener ----------------------------------------------------------------------

    def _is_supported(self, alias: str) -> bool:
        supported = self._supported.get(alias)
        if supported is None:
            supported = self._supported[alias] = redis_client(alias) is not None
        return supported

    def _listen_to(self, alias: str) -> None:
        listener = self._listener
        if listener is not None and listener[0] == alias and listener[1].is_alive():
            return
        with self._lock:
            listener = self._listener
            if listener is not None and listener[0] == alias and listener[1].is_alive():
                return
            if listener is not None:
                listener[2].set()
            stop = threading.Event()
            thread = threading.Thread(
                target=self._listen,
                args=(alias, stop),
                name="recommendations-near-cache",
                daemon=True,
            )
            self._listener = (alias, thread, stop)
        thread.start()

    def _listen(self, alias: str, stop: threading.Event) -> None:
        lost = False  # the channel failed since it was last subscribed: warned once already

        def subscribed() -> None:
            nonlocal lost
            self._go_live(stop)
            if lost:
                lost = False
                logger.info("Recommendations near cache has its Redis channel again")

        while not stop.is_set():
            pubsub = None
            try:
                client = redis_client(alias)
                pubsub = client.pubsub()
                pubsub.subscribe(channel_name(alias, client))
                self._relay(pubsub, stop, subscribed)
            except Exception as error:
                self._go_dark(stop)
                if not lost:
                    lost = True
                    logger.warning(
                        "Recommendations near cache lost its Redis channel (%s); every page reads "
                        "the cache until it is back",
                        type(error).__name__,
                        extra={"cache_alias": alias, "error_class": type(error).__name__},
                    )
                stop.wait(RETRY_SECONDS)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # the connection is gone already
                        pubsub.close()
        self._go_dark(stop)

    def _relay(self, pubsub: Any, stop: threading.Event, subscribed: Callable[[], None]) -> None:
        """Apply the channel's messages until `stop`; raises when the connection fails."""
        pinged_at = time.monotonic()
        pong_due: float | None = None
        while not stop.is_set():
            message = pubsub.get_message(timeout=min(1.0, PING_SECONDS))
            now = time.monotonic()
            if message is not None:
                kind = message["type"]
                if kind == "subscribe":
                    subscribed()
                elif kind == "message":
                    self._forget_announced(message["data"])
                elif kind == "pong":
                    pong_due = None
            if pong_due is not None and now > pong_due:
                raise ConnectionError("the Redis channel did not answer a ping")
            if now - pinged_at >= PING_SECONDS:
                pubsub.ping()
                pinged_at = now
                if pong_due is None:
                    pong_due = now + PING_SECONDS


_near = NearCache()


def near_cache() -> NearCache:
    """This process's near cache."""
    return _near


def get_many(keys: Sequence[str]) -> dict[str, Any]:
    """The cache's values of `keys`, the ones this process keeps without a round trip."""
    return _near.get_many(keys)


# The writes of keys that processes may keep: each one is announced, so no caller can forget to.


def store(key: str, value: Any, timeout: Any) -> None:
    """`cache.set`, announced."""
    get_cache().set(key, value, timeout)
    _near.changed([key])


def store_many(values: dict[str, Any], timeout: Any) -> None:
    """`cache.set_many` (one round trip on Redis), announced in one message."""
    if not values:
        return
    get_cache().set_many(values, timeout)
    _near.changed(list(values))


def add(key: str, value: Any, timeout: Any) -> bool:
    """`cache.add`, announced when it stored the value."""
    added = get_cache().add(key, value, timeout)
    if added:
        _near.changed([key])
    return added


def delete_many(keys: Sequence[str]) -> None:
    """`cache.delete_many`, announced."""
    get_cache().delete_many(keys)
    _near.changed(keys)


def _after_fork_in_child() -> None:
    # The parent's listener thread does not exist here, and its kept keys went unwatched.
    global _near
    _near = NearCache()


def _stop() -> None:
    _near.stop()


local_state.register(
    "near_cache",
    drop=_stop,
    settings={"RECOMMENDATIONS", "CACHES"},
    after_fork=_after_fork_in_child,
)
