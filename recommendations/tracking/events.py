"""Impression, click and engagement events on their way to the database, without slowing the page.

1. `record(event)` appends the event to this process's buffer: a deque append under a lock, no I/O.
2. A daemon thread hands the buffer to Celery, one `record_events` message (sent by name) per batch
   of EVENT_BATCH_SIZE events, as soon as a batch is full and when its oldest event is
   EVENT_FLUSH_INTERVAL seconds old; while the broker is unreachable batches wait, up to
   EVENT_BUFFER_MAX events, and newer ones are dropped and counted.
3. A worker inserts the batch (`event_rows.py`, `bulk_create(ignore_conflicts=True)`), acknowledged
   late, so unique event ids make a redelivered batch insert nothing twice. Inserts run one at a
   time across workers, so that click ids commit in order for the export's watermark: the database
   orders them on PostgreSQL and SQLite, a `CacheLock` (INSERT_LOCK_SECONDS) elsewhere.

Drops are counted once, by reason (`DROP_REASONS`), in shared cache counters that each process adds
to at its next hand-off. What each failure can lose: docs/measuring.md, "Writes never touch the
page's budget"; how drops are counted: docs/tracking-integrity.md.
"""

import atexit
import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any

from celery import signature

from ..cache import local_state
from ..cache.access import CacheUnavailable, get_cache
from ..cache.lock import CacheLock
from ..conf import app_settings
from .event_rows import CLICK, IMPRESSION, Inserted, database_orders_inserts, insert_events

__all__ = ["CLICK", "IMPRESSION"]  # the kinds of event, named here for impressions.py and tests

logger = logging.getLogger(__name__)

KEY_PREFIX = "recommendations:events:"
DROPPED_KEY = f"{KEY_PREFIX}dropped"  # one counter per reason: DROPPED_KEY:<reason>
# Why an event was dropped: the buffer held EVENT_BUFFER_MAX events (the broker was unreachable
# longer than the buffer lasts), the process exited while the broker was unreachable, the database
# refused the event, or the database was down past record_events' retries (the batch's events).
BUFFER_FULL = "buffer_full"
BROKER_DOWN_AT_EXIT = "broker_down_at_exit"
REFUSED = "refused"
RETRIES_EXHAUSTED = "retries_exhausted"
DROP_REASONS = (BUFFER_FULL, BROKER_DOWN_AT_EXIT, REFUSED, RETRIES_EXHAUSTED)
LOST_BATCHES_KEY = f"{KEY_PREFIX}lost-batches"
INSERT_LOCK_KEY = f"{KEY_PREFIX}insert-lock"
INSERT_LOCK_SECONDS = 300  # an insert that died holding the lock blocks the others this long
# Sent by name: the name is what a queued message carries, and nothing below the edges imports
# tasks.py.
RECORD_EVENTS_TASK = "recommendations.tasks.record_events"


def _incr_or_create(cache: Any, key: str, delta: int, timeout: int | None) -> int:
    """`incr` a counter in the cache, creating it when missing (raises CacheUnavailable)."""
    try:
        return cache.incr(key, delta)
    except ValueError:
        cache.add(key, 0, timeout)
        return cache.incr(key, delta)


def hand_off(events: list[dict[str, Any]]) -> None:
    """Send one batch to a worker as one `record_events` task message; raises when the broker fails."""
    # retry=False: kombu would otherwise keep retrying the connection; the batch waits in the
    # buffer instead and the thread tries again one interval later.
    signature(RECORD_EVENTS_TASK).apply_async(args=[events], retry=False)


class InsertBusy(Exception):
    """Another worker is inserting events: try again a moment later."""


class EventBuffer:
    """This process's events that have not been handed to the broker yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hand_off_lock = threading.Lock()  # one hand-off at a time, in order
        self._events: deque[dict[str, Any]] = deque()
        self._oldest_at: float | None = None  # time.monotonic() of the oldest buffered event
        self._dropped = 0
        self._dropped_unreported = 0
        self._failed = False  # the last hand-off failed: the thread waits an interval to retry
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._events)

    @property
    def dropped(self) -> int:
        """Events this process dropped (the buffer was full)."""
        return self._dropped

    @property
    def dropped_unreported(self) -> int:
        """Events this process dropped and has not added to the shared counter yet."""
        return self._dropped_unreported

    def append(self, event: dict[str, Any]) -> bool:
        """Buffer one event; False when it was dropped because the buffer is full."""
        with self._lock:
            if len(self._events) >= int(app_settings.EVENT_BUFFER_MAX):
                self._count_dropped(1)
                return False
            first = not self._events
            if first:
                self._oldest_at = time.monotonic()
            self._events.append(event)
            full = len(self._events) >= int(app_settings.EVENT_BATCH_SIZE)
        self._ensure_thread()
        if first or full:
            # The thread sets its deadline by the first event's age, and sends a full batch at
            # once: the page itself never talks to the broker.
            self._wake.set()
        return True

    def hand_off_all(self, full_batches_only: bool = False) -> int:
        """Hand every buffered event (or every full batch) to the broker now; how many were."""
        handed = 0
        with self._hand_off_lock:
            batch_size = max(1, int(app_settings.EVENT_BATCH_SIZE))
            while True:
                if full_batches_only and len(self._events) < batch_size:
                    break  # the rest waits to fill a batch, or for its interval
                batch = self._take(batch_size)
                if not batch:
                    break
                try:
                    hand_off(batch)
                except Exception as error:
                    # Any broker or transport error: the batch waits for the next attempt.
                    self._put_back(batch)
                    self._failed = True
                    logger.warning(
                        "Recommendations events could not be handed to the broker (%s)",
                        type(error).__name__,
                        extra={"error_class": type(error).__name__, "events": len(batch)},
                    )
                    break
                handed += len(batch)
                self._failed = False
            if handed:
                self._report_dropped()
        return handed

    def due(self) -> bool:
        """Whether the oldest buffered event has waited EVENT_FLUSH_INTERVAL seconds."""
        oldest = self._oldest_at
        return oldest is not None and time.monotonic() - oldest >= float(
            app_settings.EVENT_FLUSH_INTERVAL
        )

    def clear(self) -> None:
        """Forget the buffered events and the counts (a forked child, tests)."""
        with self._lock:
            self._events.clear()
            self._oldest_at = None
            self._dropped = 0
            self._dropped_unreported = 0
            self._failed = False

    def _take(self, count: int) -> list[dict[str, Any]]:
        with self._lock:
            batch = [self._events.popleft() for _ in range(min(count, len(self._events)))]
            if not self._events:
                self._oldest_at = None
            return batch

    def _put_back(self, batch: list[dict[str, Any]]) -> None:
        """Return a batch the broker refused to the front of the buffer, dropping what no longer fits."""
        with self._lock:
            room = int(app_settings.EVENT_BUFFER_MAX) - len(self._events)
            kept = batch[: max(0, room)]
            self._count_dropped(len(batch) - len(kept))
            self._events.extendleft(reversed(kept))
            if self._events:
                # The batch keeps its place in line, and is retried one interval from now.
                self._oldest_at = time.monotonic()

    def _count_dropped(self, count: int) -> None:
        if count <= 0:
            return
        first = self._dropped == 0
        self._dropped += count
        self._dropped_unreported += count
        if first:
            logger.warning(
                "Recommendations tracking dropped %d events: buffer full or broker unavailable",
                count,
                extra={"dropped": count, "buffer_max": int(app_settings.EVENT_BUFFER_MAX)},
            )

    def _report_dropped(self) -> None:
        with self._lock:
            count, self._dropped_unreported = self._dropped_unreported, 0
        if not count:
            return
        try:
            _incr_or_create(get_cache().strict, _dropped_key(BUFFER_FULL), count, None)
        except Exception:
            with self._lock:
                self._dropped_unreported += count

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name="recommendations-events", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            interval = float(app_settings.EVENT_FLUSH_INTERVAL)
            oldest = self._oldest_at
            wait = interval if oldest is None else oldest + interval - time.monotonic()
            self._wake.wait(timeout=max(0.05, wait))
            self._wake.clear()
            try:
                if self.due():
                    self.hand_off_all()
                elif not self._failed:
                    self.hand_off_all(full_batches_only=True)
            except Exception:
                # The thread must outlive any surprise; the events stay buffered for next time.
                logger.exception("Recommendations event hand-off failed")


_buffer = EventBuffer()


def buffer() -> EventBuffer:
    """This process's event buffer."""
    return _buffer


def record(event: dict[str, Any]) -> bool:
    """Buffer one event (a dict made by `impressions.py`); False when it had to be dropped."""
    return _buffer.append(event)


def hand_off_buffered() -> int:
    """Hand this process's buffered events to the broker now (process exit, tests)."""
    return _buffer.hand_off_all()


def write_buffered() -> Inserted:
    """Insert this process's buffered events into the database here, without a worker (commands)."""
    taken: list[dict[str, Any]] = []
    while batch := _buffer._take(max(1, int(app_settings.EVENT_BATCH_SIZE))):
        taken.extend(batch)
    return insert_batch(taken) if taken else Inserted()


def dropped_in_process() -> int:
    """Events this process dropped since it started."""
    return _buffer.dropped


def _dropped_key(reason: str) -> str:
    return f"{DROPPED_KEY}:{reason}"


def dropped_by_reason() -> dict[str, int]:
    """Events dropped by every process, by reason: the shared counters, and this process's drops
    not in them yet.

    Each drop is counted once: a process's drops move from its own count to the shared counter
    at its next hand-off. While the cache does not answer, this process's drops alone.
    """
    values = get_cache().get_many([_dropped_key(reason) for reason in DROP_REASONS])
    counts = {}
    for reason in DROP_REASONS:
        value = values.get(_dropped_key(reason))
        counts[reason] = int(value) if isinstance(value, int) else 0
    counts[BUFFER_FULL] += _buffer.dropped_unreported
    return counts


def dropped_total() -> int:
    """Events dropped by every process (the events of lost batches are `lost_batches_total()`'s)."""
    counts = dropped_by_reason()
    return sum(n for reason, n in counts.items() if reason != RETRIES_EXHAUSTED)


def _count_dropped_shared(reason: str, count: int) -> None:
    """Add `count` drops of `reason` to the shared counter; a count the cache did not take is
    not retried (nor doubled)."""
    with contextlib.suppress(CacheUnavailable):
        _incr_or_create(get_cache().strict, _dropped_key(reason), count, None)


def lost_batches_total() -> int:
    """Batches that workers gave up on (the database refused them for every retry)."""
    value = get_cache().get(LOST_BATCHES_KEY)
    return int(value) if isinstance(value, int) else 0


def insert_batch(events: list[dict[str, Any]]) -> Inserted:
    """Insert one batch (see event_rows.py), one insert at a time across workers; safe to repeat.

    Raises the database's error when it is down (the batch is then not done); where the database
    does not order inserts itself, InsertBusy while another insert holds the cache lock and
    CacheUnavailable when the lock cannot be taken.
    """
    if database_orders_inserts():
        inserted = insert_events(events)
    else:
        lock = CacheLock(INSERT_LOCK_KEY, INSERT_LOCK_SECONDS)
        if not lock.acquire():
            raise InsertBusy
        try:
            # Committed while the lock is held: click ids commit in the order they were handed out.
            inserted = insert_events(events)
        finally:
            # Only this run's lock: an insert slower than INSERT_LOCK_SECONDS leaves the next one's.
            lock.release()
    if inserted.rejected:
        _count_rejected(inserted.rejected)
    return inserted


def count_lost_batch(events: int) -> None:
    """Count a batch of `events` that a worker gave up on, and log it."""
    logger.error(
        "Recommendations events batch lost: the database refused it for every retry",
        extra={"events": events},
    )
    with contextlib.suppress(CacheUnavailable):
        _incr_or_create(get_cache().strict, LOST_BATCHES_KEY, 1, None)
    _count_dropped_shared(RETRIES_EXHAUSTED, events)


def _count_rejected(count: int) -> None:
    """Add events the database refused to the shared dropped count, once their batch is done."""
    logger.warning(
        "Recommendations dropped %d events the database refused",
        count,
        extra={"rejected": count},
    )
    # The batch is done either way.
    _count_dropped_shared(REFUSED, count)


def _new_buffer_after_fork() -> None:
    # A forked child (gunicorn --preload, Celery prefork) starts empty, with no thread: the
    # parent's events are the parent's to hand off.
    global _buffer
    _buffer = EventBuffer()


local_state.register("event_buffer", after_fork=_new_buffer_after_fork)


EXIT_ATTEMPTS = 3


@atexit.register
def _hand_off_at_exit() -> None:
    # On a clean shutdown (gunicorn's graceful worker exit); a kill skips it.
    for _ in range(EXIT_ATTEMPTS):
        if not len(_buffer):
            return
        # The last chance must not be skipped because the cache failed a moment ago (the drops
        # are reported to it).
        get_cache().forget_outage()
        try:
            _buffer.hand_off_all()
        except Exception:  # the interpreter is going away: nothing more to do about it
            break
    if len(_buffer):
        logger.warning(
            "Recommendations tracking lost %d events at exit: broker unavailable",
            len(_buffer),
            extra={"dropped": len(_buffer), "reason": BROKER_DOWN_AT_EXIT},
        )
        _count_dropped_shared(BROKER_DOWN_AT_EXIT, len(_buffer))
