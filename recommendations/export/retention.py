"""Retention of the raw tracking rows: impressions, clicks and engagement events older than
TRACKING_RETENTION_DAYS go (their daily rollups stay).

No row goes before the rollups that count it are final (`rollups.final_until`): each table's purge
stops at the oldest shop day whose rollups are missing, partial, or still open to late events.
Clicks wait for the impressions' rollups, engagement events for the visits', and impressions for
both (the visits' rollup reads the widget arms' impressions).

Rows are deleted in small primary-key ranges, each in a transaction of its own, so that the purge
never holds a lock or a transaction for long while pages insert new rows. The scan starts at the
smallest id and stops at the first range whose rows are all too young to go: ids are handed out
in about the order rows are flushed, so everything after it is younger too (a row flushed a few
minutes out of order is caught by the next run).

Clicks are training data (`export/run.py`): while an export destination is set and clicks are
exported, no click past the destination's watermark is deleted, and none at all when the
watermark cannot be read. Impressions and engagement events are not exported.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, models, router, transaction
from django.db.models import Min
from django.utils import timezone

from ..conf import app_settings
from ..exceptions import ExportError
from ..models import Click, EngagementEvent, Impression
from ..reporting.rollups import final_until
from .destinations import destination_for
from .watermark import WATERMARK_NAME, Watermark

logger = logging.getLogger(__name__)

CLICK_STREAM = "clicks"  # the export's name for the clicks it writes


@dataclass
class PurgeResult:
    """What one purge deleted, and the newest click id it was allowed to delete."""

    impressions: int = 0
    clicks: int = 0
    engagement_events: int = 0
    batches: int = 0
    click_limit: int | None = None  # None: no watermark bound (clicks are not exported)
    clicks_held: bool = False  # the export's watermark could not be read: no click deleted


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Rows created before this moment have outlived TRACKING_RETENTION_DAYS."""
    now = timezone.now() if now is None else now
    return now - timedelta(days=int(app_settings.TRACKING_RETENTION_DAYS))


def exported_click_limit() -> int | None:
    """The newest click id the export no longer needs; None when clicks are not exported.

    Raises ExportError when the export's watermark cannot be read: then nothing is known to be
    exported, and the caller keeps every click.
    """
    destination = app_settings.EXPORT_DESTINATION
    if not destination or float(app_settings.EXPORT_CLICK_WEIGHT) <= 0:
        return None
    watermark = Watermark.from_json(destination_for(destination).read_json(WATERMARK_NAME))
    mark = watermark.mark(CLICK_STREAM)
    limit = mark.exported_to
    if mark.pending is not None:
        # A file planned by a run that died is written again from its rows: keep them.
        limit = min(limit, mark.pending.first_id - 1)
    return limit


def purge_expired(
    now: datetime | None = None, batch_size: int | None = None, pause: float | None = None
) -> PurgeResult:
    """Delete the impressions, clicks and engagement events older than the retention, in small
    batches."""
    now = timezone.now() if now is None else now
    cutoff = retention_cutoff(now)
    batch_size = int(batch_size or app_settings.TRACKING_PURGE_BATCH_SIZE)
    pause = float(app_settings.TRACKING_PURGE_PAUSE if pause is None else pause)
    result = PurgeResult()
    deleted, batches = _purge_table(
        Impression, _counted_cutoff(Impression, cutoff, now), batch_size, pause, None
    )
    result.impressions, result.batches = deleted, batches
    deleted, batches = _purge_table(
        EngagementEvent, _counted_cutoff(EngagementEvent, cutoff, now), batch_size, pause, None
    )
    result.engagement_events, result.batches = deleted, result.batches + batches
    try:
        result.click_limit = exported_click_limit()
    except (ExportError, OSError, ValueError) as error:
        result.clicks_held = True
        logger.warning(
            "Click purge skipped: the export's watermark cannot be read",
            extra={"reason": "watermark_unreadable", "error_class": type(error).__name__},
        )
    else:
        click_cutoff = _counted_cutoff(Click, cutoff, now)
        deleted, batches = _purge_table(Click, click_cutoff, batch_size, pause, result.click_limit)
        result.clicks, result.batches = deleted, result.batches + batches
    logger.info(
        "Purged %d impressions, %d clicks and %d engagement events older than %s",
        result.impressions,
        result.clicks,
        result.engagement_events,
        cutoff.isoformat(timespec="seconds"),
        extra={
            "impressions": result.impressions,
            "clicks": result.clicks,
            "engagement_events": result.engagement_events,
            "batches": result.batches,
            "click_limit": result.click_limit,
        },
    )
    return result


# The rollups each table's rows are counted by: (impressions', visits').
_COUNTED_BY = {Impression: (True, True), Click: (True, False), EngagementEvent: (False, True)}


def _counted_cutoff(model: type[models.Model], cutoff: datetime, now: datetime) -> datetime:
    """`cutoff`, or earlier: the start of the oldest day of `model`'s rows not counted for good."""
    oldest = model._default_manager.order_by("created_at").values_list("created_at", flat=True)
    first = oldest.first()
    if first is None or first >= cutoff:
        return cutoff
    impressions, visits = _COUNTED_BY[model]
    return min(cutoff, final_until(first, now, impressions=impressions, visits=visits))


def _purge_table(
    model: type[models.Model],
    cutoff: datetime,
    batch_size: int,
    pause: float,
    id_limit: int | None,
) -> tuple[int, int]:
    """Delete `model`'s rows older than `cutoff` (and with ids up to `id_limit`): (rows, batches)."""
    rows = model._default_manager.order_by()
    if id_limit is not None:
        rows = rows.filter(pk__lte=id_limit)
    database = router.db_for_write(model)
    limit = id_limit + 1 if id_limit is not None else _NO_LIMIT
    statement = _range_delete(model, database)
    # As the ORM would write it (SQLite stores naive UTC text, compared as text).
    cutoff_value = connections[database].ops.adapt_datetimefield_value(cutoff)
    low = rows.aggregate(low=Min("pk"))["low"]
    deleted = batches = 0
    while low is not None:
        high = low + batch_size
        in_range = rows.filter(pk__gte=low, pk__lt=high)
        # One short transaction per range: row locks on at most batch_size rows, briefly.
        with transaction.atomic(using=database), connections[database].cursor() as cursor:
            cursor.execute(statement, [low, min(high, limit), cutoff_value])
            count = max(cursor.rowcount, 0)
        batches += 1
        deleted += count
        if count == 0 and in_range.exists():
            break  # the rows here are all younger than the cutoff, and so are the ones after
        # Past a gap of ids of ids (rows deleted by an earlier run) in one step.
        low = rows.filter(pk__gte=high).aggregate(low=Min("pk"))["low"]
        if pause and low is not None:
            time.sleep(pause)  # leave the database to the pages between batches
    return deleted, batches


# Larger than any id a bigint column holds: the end of the range when no watermark bounds it.
_NO_LIMIT = 2**63 - 1


def _range_delete(model: type[models.Model], database: str) -> str:
    """DELETE of one id range's old rows, in plain SQL.

    A QuerySet.delete() would first select every row (any post_delete receiver, even one for
    another model, turns Django's fast delete off): two queries and the rows' JSON read for nothing.
    """
    quote = connections[database].ops.quote_name
    table = quote(model._meta.db_table)
    pk = quote(model._meta.pk.column)
    created = quote(model._meta.get_field("created_at").column)
    return f"DELETE FROM {table} WHERE {pk} >= %s AND {pk} < %s AND {created} < %s"  # noqa: S608
