"""Daily rollups of the raw impressions and clicks: what the report reads for past days.

Per day (in the shop's time zone), arm, source, variant, model version and fallback reason: the
impressions, the impressions with a click, and the clicks. A click counts on its impression's day,
as in the report. `roll_up` (the `roll_up_tracking` task, hourly in beat) computes each day that
has ended and is not rolled up yet, and computes again the days a late click or a late flush can
still change (`reopened_days`): every computation replaces the day's rows in one transaction, so
a re-run adds nothing twice. Days whose raw rows may already be purged are never recomputed.

The report reads the rollups of the rolled-up days and the raw rows of the others (today, and a
day the task has not reached yet): the same figures as from the raw rows alone.
"""

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from .conf import app_settings
from .models import Click, DailyRollup, Impression, RolledUpDay

logger = logging.getLogger(__name__)

GROUP = ("arm", "source", "variant", "model_version", "fallback_reason")


@dataclass(frozen=True)
class GroupCounts:
    """One day and group with its counts."""

    day: date
    arm: str
    source: str
    variant: str
    model_version: str
    fallback_reason: str
    impressions: int
    clicked: int
    clicks: int


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day's first moment and the next day's, in the current time zone."""
    zone = timezone.get_current_timezone()
    since = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return since, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def raw_counts(since: datetime, until: datetime) -> list[GroupCounts]:
    """The counts of the raw rows of impressions created in [since, until), per day and group."""
    clicks_of = Click.objects.filter(impression_request_id=OuterRef("request_id"))
    click_count = (
        clicks_of.order_by().values("impression_request_id").annotate(n=Count("pk")).values("n")[:1]
    )
    grouped = (
        Impression.objects.filter(created_at__gte=since, created_at__lt=until)
        .annotate(
            day=TruncDate("created_at"),
            was_clicked=Exists(clicks_of),
            click_count=Coalesce(Subquery(click_count), Value(0), output_field=IntegerField()),
        )
        .values("day", *GROUP)
        .annotate(
            n_impressions=Count("pk"),
            n_clicked=Count("pk", filter=Q(was_clicked=True)),
            n_clicks=Sum("click_count"),
        )
        .order_by("day", *GROUP)
    )
    return [
        GroupCounts(
            day=row["day"],
            **{name: row[name] for name in GROUP},
            impressions=row["n_impressions"],
            clicked=row["n_clicked"],
            clicks=row["n_clicks"] or 0,
        )
        for row in grouped
    ]


def counts_between(start: date, end: date) -> list[GroupCounts]:
    """The counts of the days start..end (inclusive): rollups where computed, raw rows elsewhere."""
    rolled = set(
        RolledUpDay.objects.filter(day__gte=start, day__lte=end).values_list("day", flat=True)
    )
    counts = [
        GroupCounts(
            day=row.day,
            **{name: getattr(row, name) for name in GROUP},
            impressions=row.impressions,
            clicked=row.clicked,
            clicks=row.clicks,
        )
        for row in DailyRollup.objects.filter(day__in=rolled)
    ]
    for first, last in _runs(day for day in _days(start, end) if day not in rolled):
        since, _ = day_bounds(first)
        _, until = day_bounds(last)
        counts += raw_counts(since, until)
    return sorted(counts, key=lambda c: (c.day, *(getattr(c, name) for name in GROUP)))


def roll_up_day(day: date) -> int:
    """Compute `day`'s rollups from the raw rows, replacing any earlier ones; rows written."""
    since, until = day_bounds(day)
    counts = raw_counts(since, until)
    with transaction.atomic():
        DailyRollup.objects.filter(day=day).delete()
        DailyRollup.objects.bulk_create(
            DailyRollup(
                day=day,
                **{name: getattr(c, name) for name in GROUP},
                impressions=c.impressions,
                clicked=c.clicked,
                clicks=c.clicks,
            )
            for c in counts
        )
        RolledUpDay.objects.update_or_create(day=day, defaults={"computed_at": timezone.now()})
    return len(counts)


def reopened_days() -> int:
    """Days before today that late events can still change: a click counts CLICK_MAX_AGE seconds
    after its impression, and an event may wait EVENT_CACHE_TTL seconds for the flush."""
    seconds = int(app_settings.CLICK_MAX_AGE) + int(app_settings.EVENT_CACHE_TTL)
    return math.ceil(seconds / 86_400) + 1


def roll_up(today: date | None = None) -> list[date]:
    """Roll up every ended day not rolled up yet, and the reopened ones again; the days computed."""
    today = today or timezone.localdate()
    oldest = Impression.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if oldest is None:
        return []
    first = timezone.localtime(oldest).date()
    # Never recompute a day the purge may have begun to delete: it would lose counts for good.
    kept_from = today - timedelta(days=int(app_settings.TRACKING_RETENTION_DAYS) - 1)
    first = max(first, kept_from)
    rolled = set(RolledUpDay.objects.filter(day__gte=first).values_list("day", flat=True))
    reopen_from = today - timedelta(days=reopened_days())
    days = [
        day
        for day in _days(first, today - timedelta(days=1))
        if day not in rolled or day >= reopen_from
    ]
    for day in days:
        roll_up_day(day)
    if days:
        logger.info(
            "Rolled up %d days of impressions",
            len(days),
            extra={"days": len(days), "first": days[0].isoformat(), "last": days[-1].isoformat()},
        )
    return days


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) pairs."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
