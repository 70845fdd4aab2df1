"""Enqueueing Celery work from the request path without ever hurting the request.

A broker that is down costs a WARNING, not an error: the page, the login and the checkout go on.
After a failed publish, enqueueing pauses for a few seconds in this process, so an outage costs
one failed connection attempt per pause and not one per page view.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import signature
from django.db import transaction

from ..cache import local_state
from ..cache.access import get_cache

logger = logging.getLogger(__name__)

# Enqueued by name, not by importing tasks.py: nothing below the edges imports an edge, and the
# name is what queued messages carry anyway.
PREFETCH_USER_TASK = "recommendations.tasks.prefetch_user"
# How long a user's refresh stays deduplicated across processes (a short lock via cache.add).
REFRESH_LOCK_SECONDS = 60
# How long this process stops trying to publish after the broker failed.
BROKER_PAUSE_SECONDS = 10.0

_pause_lock = threading.Lock()
_paused_until = 0.0


def _broker_paused() -> bool:
    return time.monotonic() < _paused_until


def _pause_broker() -> None:
    global _paused_until
    with _pause_lock:
        _paused_until = time.monotonic() + BROKER_PAUSE_SECONDS


def reset_pause() -> None:
    """Forget an earlier broker failure (tests, and a worker that knows the broker is back)."""
    global _paused_until
    with _pause_lock:
        _paused_until = 0.0


def _new_lock_after_fork() -> None:
    # The parent's lock may be held by one of its threads, which the child does not have.
    global _pause_lock, _paused_until
    _pause_lock = threading.Lock()
    _paused_until = 0.0


local_state.register("refresh_queue", after_fork=_new_lock_after_fork)


def safe_enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Publish `task` with `args`; on any broker error log one WARNING and return False."""
    if _broker_paused():
        return False
    try:
        # retry=False: kombu would otherwise keep retrying the connection while the page waits.
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception as error:  # any broker or transport error: the request must go on
        _pause_broker()
        logger.warning(
            "Could not enqueue %s: broker unavailable (%s)",
            getattr(task, "name", task),
            type(error).__name__,
            extra={"task": getattr(task, "name", str(task)), "error_class": type(error).__name__},
        )
        return False
    return True


def enqueue_on_commit(function: Callable[[], Any]) -> None:
    """Run `function` after the current transaction commits (at once when there is none)."""
    transaction.on_commit(function)


def enqueue_refresh(user_id: int) -> bool:
    """Ask a worker to prefetch this user's recommendations, once per lock period across processes."""
    if not get_cache().add(f"recommendations:refresh-lock:{user_id}", 1, REFRESH_LOCK_SECONDS):
        return False
    return safe_enqueue(signature(PREFETCH_USER_TASK), user_id)
