"""The page's endpoint call, bounded by a deadline instead of by socket timeouts alone.

Socket timeouts bound each connect and each read, not a call: a slow DNS answer, the SigV4
signing, a reused connection that turns out dead and is opened again, and a thread that wakes late
on a busy machine all come on top. So the page hands the call to a small pool of threads of its
own and waits for the answer until its deadline, and no longer. A call that answers after the page
gave up is not wasted: `late(answer)` stores it, so the user's next page view is a cache hit.

At most INLINE_CALL_THREADS calls run at once per process (a bulkhead): while the endpoint hangs,
each call holds a thread until its socket timeout, and a page that finds no free thread does not
queue behind them; it is served from the fallback at once (`InlineCallsBusy`).
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from ..cache import local_state
from ..conf import app_settings
from ..exceptions import EndpointTimeout

logger = logging.getLogger(__name__)

T = TypeVar("T")


class InlineCallsBusy(Exception):
    """Every inline-call thread of this process is taken (the endpoint is slow or hanging)."""


class _Pool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.slots = threading.BoundedSemaphore(size)
        self.executor = ThreadPoolExecutor(size, thread_name_prefix="recommendations-inline")


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get_pool() -> _Pool:
    global _pool
    size = max(1, int(app_settings.INLINE_CALL_THREADS))
    pool = _pool
    if pool is None or pool.size != size:
        with _pool_lock:
            if _pool is None or _pool.size != size:
                _pool = _Pool(size)
            pool = _pool
    return pool


def _forget_pool_after_fork() -> None:
    # The parent's threads do not exist in a forked child (gunicorn --preload, Celery prefork).
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


local_state.register("inline_calls", after_fork=_forget_pool_after_fork)


class _Handoff:
    """Who gets the answer: the waiting page, or `late` once the page has given up."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        self.finished = False


def call_within(
    call: Callable[[], T], seconds: float, *, endpoint: str, late: Callable[[T], None]
) -> T:
    """`call()` in a pool thread; its answer or error if it comes within `seconds`.

    Raises EndpointTimeout at the deadline (the call goes on, and `late` gets its answer if it
    succeeds), or InlineCallsBusy when no thread is free.
    """
    pool = _get_pool()
    if not pool.slots.acquire(blocking=False):
        raise InlineCallsBusy()
    handoff = _Handoff()

    def run() -> T:
        try:
            answer = call()
        except BaseException:
            with handoff.lock:
                handoff.finished = True
            raise
        finally:
            pool.slots.release()
        with handoff.lock:
            handoff.finished = True
            deliver_late = handoff.abandoned
        if deliver_late:
            try:
                late(answer)
            except Exception:
                logger.exception("Could not keep a late endpoint answer")
        return answer

    try:
        future = pool.executor.submit(run)
    except RuntimeError:  # the executor is shutting down (interpreter exit)
        pool.slots.release()
        raise InlineCallsBusy() from None
    try:
        return future.result(timeout=max(seconds, 0.0))
    except FutureTimeout:
        with handoff.lock:
            finished = handoff.finished
            handoff.abandoned = not finished
        if finished:
            return future.result()  # it answered while the page was giving up
        raise EndpointTimeout(
            endpoint=endpoint,
            detail=f"no answer within the page's {seconds * 1000:.0f} ms",
        ) from None
