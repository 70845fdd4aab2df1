"""The app's Celery tasks: thin wrappers over `fallback.store`, `prefetch.users`, `export.run`...

Tasks carry only ids. Prefetch tasks are acknowledged late (a worker killed mid-task leaves the
message to be delivered again) and idempotent (running one twice writes the same entries). They
consult the endpoint's circuit breaker like the pages do: while it is open they are retried once
the cool-down is over, without calling the endpoint and without using up their error retries.
With no endpoint (`BACKEND = "none"`) they do nothing.
"""

import logging
import random

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db import DatabaseError

from .backends.base import endpoint_configured
from .cache.access import CacheUnavailable
from .conf import app_settings
from .exceptions import BreakerOpen, EndpointError, ExportError
from .export import retention, run
from .fallback import store
from .prefetch import fan_out, users
from .reporting import rollups
from .tracking import events

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=3,
    ignore_result=True,
)
def refresh_fallback() -> int | None:
    """Recompute the local fallback ranking (hourly in beat); the new version's id, or None if skipped."""
    version = store.refresh_exclusive()
    return version.pk if version is not None else None


# Retries: exponential backoff with full jitter, only for errors the endpoint may recover from
# (throttling, 5xx, timeouts, connection); a validation error is not retried.
RETRY_BACKOFF_MAX = 120.0
MAX_RETRIES = 5
# Cool-downs a task waits out while the breaker is open, on top of MAX_RETRIES: 20 default
# cool-downs are 10 minutes, beat's prefetch interval, after which beat asks for these users again.
MAX_BREAKER_WAITS = 20
# Spread over the seconds after a cool-down, so that the waiting tasks do not all come back at
# once (only one of them gets the probe; the rest would wait another round).
BREAKER_WAIT_JITTER = 5.0


def backoff_seconds(retries: int) -> float:
    """Seconds before the next attempt: Celery's exponential backoff with full jitter (the one
    `retry_backoff` uses), counted in milliseconds so that PREFETCH_RETRY_BACKOFF may be a
    fraction of a second (Celery's helper works in whole units)."""
    milliseconds = get_exponential_backoff_interval(
        factor=round(float(app_settings.PREFETCH_RETRY_BACKOFF) * 1000),
        retries=retries,
        maximum=round(RETRY_BACKOFF_MAX * 1000),
        full_jitter=True,
    )
    return milliseconds / 1000


def breaker_countdown(retry_after: float) -> float:
    """Seconds before a task the breaker refused tries again: after the cool-down, jittered."""
    return max(retry_after, 0.0) + random.uniform(0, BREAKER_WAIT_JITTER)


def _prefetch_or_retry(
    task: Task, user_ids: list[int], single: bool = False, breaker_waits: int = 0
) -> int:
    try:
        return users.prefetch_users(user_ids, skip_fresh=True).users
    except users.PrefetchInterrupted as interrupted:
        error = interrupted.error
        # Only the users not yet written are retried: a retry does no work twice.
        args = [interrupted.remaining[0] if single else interrupted.remaining]
        if isinstance(error, BreakerOpen):
            if breaker_waits < MAX_BREAKER_WAITS:
                # A wait is no failure: max_retries is raised past this retry, so that waiting
                # for the breaker does not use up the retries kept for the endpoint's errors.
                raise task.retry(
                    args=args,
                    kwargs={"breaker_waits": breaker_waits + 1},
                    exc=error,
                    countdown=breaker_countdown(error.retry_after),
                    max_retries=task.request.retries + 1,
                ) from error
            # Beat asks for these users again on its next round.
            logger.warning(
                "Prefetch of %d users dropped: the breaker stayed open for %d waits",
                len(interrupted.remaining),
                breaker_waits,
                extra={"reason": error.reason, "users": len(interrupted.remaining)},
            )
            return len(interrupted.done)
        if isinstance(error, EndpointError) and error.retryable:
            raise task.retry(
                args=args,
                kwargs={"breaker_waits": breaker_waits},
                exc=error,
                countdown=backoff_seconds(task.request.retries - breaker_waits),
                max_retries=MAX_RETRIES + breaker_waits,
            ) from error
        logger.warning(
            "Prefetch of %d users failed with %s; not retried",
            len(interrupted.remaining),
            type(error).__name__,
            extra={
                "reason": getattr(error, "reason", "error"),
                "users": len(interrupted.remaining),
            },
        )
        return len(interrupted.done)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def prefetch_users(self: Task, user_ids: list[int], breaker_waits: int = 0) -> int:
    """Prefetch these users, one invoke_endpoint per BATCH_SIZE users; retried with backoff."""
    return _prefetch_or_retry(self, list(user_ids), breaker_waits=int(breaker_waits))


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def prefetch_user(self: Task, user_id: int, breaker_waits: int = 0) -> int:
    """Prefetch one user (after a login, a purchase, or when their entry went stale)."""
    return _prefetch_or_retry(self, [int(user_id)], single=True, breaker_waits=int(breaker_waits))


@shared_task(acks_late=True, ignore_result=True)
def prefetch_active_users(
    days: int | None = None, since: str | None = None, after: int = 0, pass_token: str | None = None
) -> int:
    """Fan one page of active users out into `prefetch_users` batches, then queue the next page.

    Beat calls it with no arguments; each next page carries the first page's cutoff (`since`),
    the last user id done (`after`) and the pass's lock (`pass_token`). Returns the users of this
    page, 0 when another pass is paging (see `fan_out.py`) or there is no endpoint to ask.
    """
    if not endpoint_configured():
        return 0  # BACKEND "none": no pass, no batches
    lock = fan_out.hold_pass(pass_token)
    if lock is None:
        return 0
    page = fan_out.read_page(fan_out.active_since(days, since), int(after))
    for batch in users.batches(page.user_ids, int(app_settings.BATCH_SIZE)):
        prefetch_users.delay(batch)
    if page.next_after is not None:
        # Published after this page's batches: a worker lost mid-page runs the page again
        # (acks_late), which publishes some batches twice; their users' entries are fresh by then.
        prefetch_active_users.delay(
            since=page.since.isoformat(), after=page.next_after, pass_token=lock.token
        )
    else:
        lock.release()
    return len(page.user_ids)


# A batch of events the database cannot take (it is down) is retried after 1, 2, 4 ... 10 minutes,
# about half an hour in all, then counted lost. Waits for another worker's insert are no failure.
RECORD_EVENTS_RETRY_BASE = 60.0
RECORD_EVENTS_RETRY_MAX = 600.0
RECORD_EVENTS_MAX_FAILURES = 6
INSERT_WAIT_SECONDS = 0.5


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def record_events(self: Task, batch: list[dict], failures: int = 0) -> int:
    """Insert one batch of impression, click and engagement events (sent by each web process's buffer).

    Acknowledged late and safe to run twice: event ids are unique and inserts ignore repeats.
    """
    try:
        inserted = events.insert_batch(list(batch))
    except (events.InsertBusy, CacheUnavailable) as error:
        # Another worker is inserting (or the lock's cache blinked): again in a moment, jittered.
        raise self.retry(
            exc=error,
            countdown=random.uniform(INSERT_WAIT_SECONDS, 2 * INSERT_WAIT_SECONDS),
            kwargs={"failures": failures},
            max_retries=self.request.retries + 1,
        ) from error
    except DatabaseError as error:
        if failures >= RECORD_EVENTS_MAX_FAILURES:
            events.count_lost_batch(len(batch))
            return 0
        raise self.retry(
            exc=error,
            countdown=min(RECORD_EVENTS_RETRY_MAX, RECORD_EVENTS_RETRY_BASE * 2**failures),
            kwargs={"failures": failures + 1},
            max_retries=self.request.retries + 1,
        ) from error
    return inserted.impressions + inserted.clicks + inserted.engagements


# An export that failed on the way (network, a 5xx from S3, the database) tries again after 1, 2,
# 4... minutes; a wrong destination (no such bucket, access denied) is logged, not retried.
EXPORT_RETRY_BASE = 60.0
EXPORT_MAX_RETRIES = 6


@shared_task(bind=True, acks_late=True, max_retries=EXPORT_MAX_RETRIES, ignore_result=True)
def export_interactions(self: Task) -> int | None:
    """Export what is new to EXPORT_DESTINATION (daily in beat); rows written, None when off or busy.

    Acknowledged late and safe to run twice: a worker lost mid-export leaves the message to be
    delivered again, and the watermark makes the second run write nothing twice.
    """
    destination = app_settings.EXPORT_DESTINATION
    if not destination:
        logger.info("Export skipped: EXPORT_DESTINATION is not set", extra={"reason": "off"})
        return None
    try:
        result = run.export_exclusive(destination, file_format=app_settings.EXPORT_FORMAT)
    except (ExportError, DatabaseError, OSError) as error:
        # OSError: a local destination's disk is full or unmounted, which an operator may fix.
        if isinstance(error, ExportError) and not error.retryable:
            logger.error(
                "Export failed and is not retried: %s",
                error,
                extra={"reason": "export_failed", "error_class": type(error).__name__},
            )
            return None
        countdown = EXPORT_RETRY_BASE * 2**self.request.retries
        raise self.retry(exc=error, countdown=countdown) from error
    return None if result is None else result.rows()


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=60,
    retry_backoff_max=900,
    max_retries=3,
    ignore_result=True,
)
def purge_tracking() -> int:
    """Delete raw impressions and clicks past TRACKING_RETENTION_DAYS (daily in beat); rows deleted.

    Safe to run twice or to be cut off: each batch commits on its own, and a re-run starts over
    from the oldest row left.
    """
    result = retention.purge_expired()
    return result.impressions + result.clicks


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=60, max_retries=3, ignore_result=True)
def roll_up_tracking() -> int:
    """Compute the daily rollups of ended days and of the days late events can change (hourly in beat).

    Idempotent: each day's rollups are replaced, so a re-run or a retry adds nothing twice.
    """
    return len(rollups.roll_up())


@shared_task(ignore_result=True)
def publish_cloudwatch_metrics(window_seconds: int = 300) -> int:
    """Send the last window's figures to CloudWatch (beat, when CLOUDWATCH_NAMESPACE is set)."""
    from .ops import cloudwatch
    from .ops.recent_figures import recent_figures

    if not app_settings.CLOUDWATCH_NAMESPACE:
        return 0
    return cloudwatch.publish(recent_figures(window_seconds))


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=60, max_retries=3, ignore_result=True)
def compute_drift(day: str | None = None) -> int:
    """Compare a day's model traffic with the training baselines (daily in beat, yesterday by
    default; `day` as YYYY-MM-DD); publish the figures to CloudWatch; model versions computed.

    Idempotent: each day's figures are replaced.
    """
    from datetime import date

    from .drift import daily
    from .ops import cloudwatch, drift_metrics

    rows = daily.compute_drift(date.fromisoformat(day) if day else None)
    if rows and not day:
        drift_metrics.remember(rows)  # /metrics shows the newest day, not a recomputed old one
    if rows and app_settings.CLOUDWATCH_NAMESPACE:
        cloudwatch.put_points(cloudwatch.drift_metric_data(rows))
    return len(rows)


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=60, max_retries=3, ignore_result=True)
def compute_quality(day: str | None = None) -> int:
    """A day's quality figures per model version and variant, from the rollups (daily in beat after
    the roll-up has counted the day, yesterday by default; `day` as YYYY-MM-DD): kept for /metrics
    and published to CloudWatch; the versions and variants with figures.

    Idempotent: it only reads the rollups.
    """
    from datetime import date, timedelta

    from .ops import cloudwatch, quality_metrics
    from .reporting.days import shop_day
    from .reporting.quality import build_quality

    when = date.fromisoformat(day) if day else shop_day() - timedelta(days=1)
    figures = [row.figures() for rows in build_quality(when, when).series.values() for row in rows]
    if not day:
        quality_metrics.remember(figures)  # /metrics shows the newest day, not a recomputed old one
    if figures and app_settings.CLOUDWATCH_NAMESPACE:
        cloudwatch.put_points(cloudwatch.quality_metric_data(figures))
    return len(figures)
