"""Impression and click events on their way to the database, without slowing the page.

1. `record(event)` appends the event to this process's buffer: a deque append under a lock, no I/O.
2. The buffer is handed to the cache in batches: by the request that fills a batch
   (EVENT_BATCH_SIZE events; one `incr` and one `add`, once per that many events), and by a
   daemon thread of the process when its oldest event is EVENT_FLUSH_INTERVAL seconds old. A batch
   goes into a numbered slot of a one-minute bucket: `incr` on the bucket's counter claims the
   slot (atomic in Redis and Memcached), `add` stores the batch in it.
3. The `flush_events` task (Celery beat, every minute) reads the slots it has not read yet in the
   buckets of the last EVENT_CACHE_TTL seconds, inserts their events with `bulk_create`, and only
   then moves the bucket's "done" mark past them. Event ids are unique in the tables and inserts
   ignore conflicts, so a flush interrupted before its mark moved inserts nothing twice. One flush
   runs at a time: it holds a `CacheLock`, which only the run holding it releases.

What is lost, at most, when something crashes:

- a web process killed: the events in its memory. While the cache answers that is fewer than
  EVENT_BATCH_SIZE events waiting plus one batch on its way to the cache (so fewer than 2 x 100
  events with the defaults), none older than EVENT_FLUSH_INTERVAL (5 s) plus one hand-off. While
  the cache is unreachable, batches stay in the buffer (retried every interval), up to
  EVENT_BUFFER_MAX events (5,000); past that new events are dropped and counted.
- the cache lost (Redis restarted without persistence, entries evicted): the batches handed off
  since the last flush, about one minute of events with beat running.
- `flush_events` not running for EVENT_CACHE_TTL (6 h): the batches expire.

Dropped events are counted once: each process adds its drops to a cache counter at its next
hand-off, and `dropped_total()` is that counter plus the drops this process has not added yet (so
that its own show while the cache is down); `dropped_in_process()` is this process's own. Events
the database refuses (see `event_rows.py`) are left out, counted in the same counter by the flush
and logged; the rest of their batch is stored. Slots that a flush finds claimed but never
written are counted as `lost_batches_total()`: a batch lost with its process between `incr` and
`add`, or a hand-off whose `incr` answer timed out and that wrote its batch into another slot
(nothing lost). An empty slot younger than two minutes may still be
written: it holds the bucket's mark back, but the batches after it are inserted at once.
"""

import atexit
import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..cache import local_state
from ..cache.access import CacheUnavailable, get_cache
from ..cache.lock import CacheLock
from ..conf import app_settings
from .event_rows import CLICK, IMPRESSION, Inserted, insert_events

__all__ = ["CLICK", "IMPRESSION"]  # the kinds of event, named here for tracking.py and tests

logger = logging.getLogger(__name__)

KEY_PREFIX = "recommendations:events:"
DROPPED_KEY = f"{KEY_PREFIX}dropped"
LOST_BATCHES_KEY = f"{KEY_PREFIX}lost-batches"
FLUSH_LOCK_KEY = f"{KEY_PREFIX}flush-lock"
BUCKET_SECONDS = 60
# A claimed slot that is still empty is a batch on its way (between `incr` and `add`) while its
# bucket is this young, and a batch that will never come (its process died) after that.
IN_FLIGHT_SECONDS = 2 * BUCKET_SECONDS
FLUSH_LOCK_SECONDS = 300
SLOTS_PER_READ = 200  # cache keys per get_many while flushing
SLOT_ATTEMPTS = 5  # slots a hand-off draws before it gives up (only a non-atomic incr collides)


def bucket_of(timestamp: float) -> int:
    """The number of the one-minute bucket a hand-off at `timestamp` goes into."""
    return int(timestamp // BUCKET_SECONDS)


def _counter_key(bucket: int) -> str:
    return f"{KEY_PREFIX}{bucket}:n"


def _done_key(bucket: int) -> str:
    return f"{KEY_PREFIX}{bucket}:done"


def _slot_key(bucket: int, slot: int) -> str:
    return f"{KEY_PREFIX}{bucket}:{slot}"


def _cache_ttl() -> int:
    # Counters and marks outlive the batches by a bucket, so a flush never re-reads a bucket whose
    # counter vanished before its slots did.
    return int(app_settings.EVENT_CACHE_TTL) + BUCKET_SECONDS


def _incr_or_create(cache: Any, key: str, delta: int, timeout: int | None) -> int:
    """`incr` a counter in the cache, creating it when missing (raises CacheUnavailable)."""
    try:
        return cache.incr(key, delta)
    except ValueError:
        cache.add(key, 0, timeout)
        return cache.incr(key, delta)


def hand_off(events: list[dict[str, Any]], now: float | None = None) -> None:
    """Store one batch in a new slot of the current bucket; raises CacheUnavailable."""
    cache = get_cache().strict
    bucket = bucket_of(time.time() if now is None else now)
    for _ in range(SLOT_ATTEMPTS):
        slot = _incr_or_create(cache, _counter_key(bucket), 1, _cache_ttl())
        # `add`, not `set`: with a cache whose incr is not atomic (the file-based one), two
        # processes could draw the same slot; the second then draws again instead of overwriting.
        if cache.add(_slot_key(bucket, slot), events, _cache_ttl()):
            return
    raise CacheUnavailable(f"no free event slot in bucket {bucket} after {SLOT_ATTEMPTS} draws")


class EventBuffer:
    """This process's events that have not reached the cache yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hand_off_lock = threading.Lock()  # one hand-off at a time, in order
        self._events: deque[dict[str, Any]] = deque()
        self._oldest_at: float | None = None  # time.monotonic() of the oldest buffered event
        self._dropped = 0
        self._dropped_unreported = 0
        self._retry_at = 0.0  # after a failed hand-off, pages leave retries to the thread
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._events)

    @property
    def dropped(self) -> int:
        """Events this process dropped (buffer full, or refused by the cache)."""
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
        if first:
            self._wake.set()  # the thread sets its deadline by this event's age
        if full and time.monotonic() >= self._retry_at:
            # The page that fills a batch hands it off: one incr and one add per batch, and
            # the buffer never waits on the thread being scheduled.
            self.hand_off_all()
        return True

    def hand_off_all(self) -> int:
        """Hand every buffered event to the cache now; how many were handed off."""
        handed = 0
        with self._hand_off_lock:
            batch_size = max(1, int(app_settings.EVENT_BATCH_SIZE))
            while True:
                batch = self._take(batch_size)
                if not batch:
                    break
                try:
                    hand_off(batch)
                except Exception as error:
                    # CacheUnavailable, or a cache that cannot count (incr unsupported): either
                    # way the page goes on and the batch waits for the next attempt.
                    self._put_back(batch)
                    self._retry_at = time.monotonic() + float(app_settings.EVENT_FLUSH_INTERVAL)
                    if not isinstance(error, CacheUnavailable):
                        logger.warning(
                            "Recommendations events could not be handed to the cache (%s)",
                            type(error).__name__,
                            extra={"error_class": type(error).__name__},
                        )
                    break
                handed += len(batch)
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
            self._retry_at = 0.0

    def _take(self, count: int) -> list[dict[str, Any]]:
        with self._lock:
            batch = [self._events.popleft() for _ in range(min(count, len(self._events)))]
            if not self._events:
                self._oldest_at = None
            return batch

    def _put_back(self, batch: list[dict[str, Any]]) -> None:
        """Return a batch the cache refused to the front of the buffer, dropping what no longer fits."""
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
                "Recommendations tracking dropped %d events: buffer full or cache unavailable",
                count,
                extra={"dropped": count, "buffer_max": int(app_settings.EVENT_BUFFER_MAX)},
            )

    def _report_dropped(self) -> None:
        with self._lock:
            count, self._dropped_unreported = self._dropped_unreported, 0
        if not count:
            return
        try:
            _incr_or_create(get_cache().strict, DROPPED_KEY, count, None)
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
            except Exception:
                # The thread must outlive any surprise; the events stay buffered for next time.
                logger.exception("Recommendations event hand-off failed")


_buffer = EventBuffer()


def buffer() -> EventBuffer:
    """This process's event buffer."""
    return _buffer


def record(event: dict[str, Any]) -> bool:
    """Buffer one event (a dict made by `tracking.py`); False when it had to be dropped."""
    return _buffer.append(event)


def hand_off_buffered() -> int:
    """Hand this process's buffered events to the cache now (commands, tests, process exit)."""
    return _buffer.hand_off_all()


def dropped_in_process() -> int:
    """Events this process dropped since it started."""
    return _buffer.dropped


def dropped_total() -> int:
    """Events dropped by every process: the shared counter, and this process's drops not in it yet.

    Each drop is counted once: a process's drops move from its own count to the shared counter
    at its next hand-off. While the cache does not answer, this process's drops alone.
    """
    value = get_cache().get(DROPPED_KEY)
    shared = int(value) if isinstance(value, int) else 0
    return shared + _buffer.dropped_unreported


def lost_batches_total() -> int:
    """Batches that flushes found claimed but never written (each up to EVENT_BATCH_SIZE events)."""
    value = get_cache().get(LOST_BATCHES_KEY)
    return int(value) if isinstance(value, int) else 0


@dataclass
class FlushResult:
    """What one flush moved into the database."""

    impressions: int = 0
    clicks: int = 0
    engagements: int = 0  # engagement events (engagement.py)
    batches: int = 0
    lost_batches: int = 0  # claimed slots whose batch never came
    rejected: int = 0  # events the database refused (the rest of their batch was stored)
    skipped: bool = False  # another flush held the lock


def flush_to_database(now: float | None = None) -> FlushResult:
    """Move every batch waiting in the cache into the database, in bulk; safe to run twice."""
    cache = get_cache().strict
    result = FlushResult()
    lock = CacheLock(FLUSH_LOCK_KEY, FLUSH_LOCK_SECONDS)
    if not lock.acquire():
        result.skipped = True
        return result
    try:
        now = time.time() if now is None else now
        current = bucket_of(now)
        first = bucket_of(now - int(app_settings.EVENT_CACHE_TTL))
        buckets = list(range(first, current + 1))
        marks = cache.get_many([_counter_key(b) for b in buckets] + [_done_key(b) for b in buckets])
        for bucket in buckets:
            claimed = marks.get(_counter_key(bucket))
            done = marks.get(_done_key(bucket)) or 0
            if isinstance(claimed, int) and claimed > done:
                in_flight = now - bucket * BUCKET_SECONDS < IN_FLIGHT_SECONDS
                _flush_bucket(cache, bucket, done, claimed, in_flight, result)
    finally:
        # Only this run's lock: a flush slower than FLUSH_LOCK_SECONDS leaves the next one's.
        lock.release()
        if result.rejected:
            # Also when a later bucket failed: these were in buckets whose marks moved past them.
            _count_rejected(result.rejected)
    if result.lost_batches:
        logger.warning(
            "Recommendations flush found %d event batches that never reached the cache",
            result.lost_batches,
            extra={"lost_batches": result.lost_batches},
        )
    return result


def _flush_bucket(
    cache: Any, bucket: int, done: int, claimed: int, in_flight: bool, result: FlushResult
) -> None:
    """Insert the batches of slots done+1..claimed, up to the first one still on its way."""
    slots = list(range(done + 1, claimed + 1))
    found: dict[str, Any] = {}
    for start in range(0, len(slots), SLOTS_PER_READ):
        chunk = slots[start : start + SLOTS_PER_READ]
        found.update(cache.get_many([_slot_key(bucket, slot) for slot in chunk]))
    # Events of the slots up to the mark are done after this flush; those after a slot that may
    # still be written are read (and inserted, as repeats) again until the mark passes them.
    settled: list[dict[str, Any]] = []
    unsettled: list[dict[str, Any]] = []
    mark = done
    waiting = False  # an empty slot that may still be written holds the mark back
    lost = 0
    for slot in slots:
        batch = found.get(_slot_key(bucket, slot))
        if batch is None and in_flight:
            # Claimed a moment ago, written any moment now. Later batches are inserted anyway
            # (they are read again until the mark passes them; the inserts ignore repeats).
            waiting = True
            continue
        if batch is None or not isinstance(batch, list):
            # Never written: its process died between claiming and writing, or a hand-off
            # whose `incr` answer timed out retried its batch in another slot. (Or not a
            # batch at all: a value the app did not write counts as lost too.)
            lost += 1
        else:
            (unsettled if waiting else settled).extend(batch)
            result.batches += 1
        if not waiting:
            mark = slot
    rejected = 0
    for events, final in ((settled, True), (unsettled, False)):
        if events:
            inserted = _insert(events)
            result.impressions += inserted.impressions
            result.clicks += inserted.clicks
            result.engagements += inserted.engagements
            if final:  # a refused event read again later is counted when its slot is done
                rejected = inserted.rejected
    if lost:
        result.lost_batches += lost
        _incr_or_create(cache, LOST_BATCHES_KEY, lost, None)
    if mark > done:
        # Only after the insert: a flush that dies before this line is redone, and the unique
        # event ids make the redo insert nothing twice.
        cache.set(_done_key(bucket), mark, _cache_ttl())
        result.rejected += rejected  # counted once: the mark has passed them


def _insert(events: list[dict[str, Any]]) -> Inserted:
    """Insert the events (see event_rows.py); what was offered to the tables and refused."""
    return insert_events(events)


def _count_rejected(count: int) -> None:
    """Add events the database refused to the shared dropped count, once their batch is done."""
    logger.warning(
        "Recommendations flush dropped %d events the database refused",
        count,
        extra={"rejected": count},
    )
    # The batch is done either way: a count the cache did not take is not retried (nor doubled).
    with contextlib.suppress(CacheUnavailable):
        _incr_or_create(get_cache().strict, DROPPED_KEY, count, None)


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
        # The last chance must not be skipped because the cache failed a moment ago.
        get_cache().forget_outage()
        try:
            _buffer.hand_off_all()
        except Exception:  # the interpreter is going away: nothing more to do about it
            break
    if len(_buffer):
        logger.warning(
            "Recommendations tracking lost %d events at exit: cache unavailable",
            len(_buffer),
            extra={"dropped": len(_buffer)},
        )
