"""Daily rollups of the raw impressions, clicks and visits: what the reports read for past days.

Per day (in the shop's time zone), arm, source, variant, model version and fallback reason: the
impressions, the impressions with a click, and the clicks. Per ended day and arm: the visits, and
the visits each action engaged (`visits.py`); per ended day, model version and variant: what the
model answered (`model_rollups.py`), and per day the products available. A click counts on its impression's day,
as in the report. `roll_up` (the `roll_up_tracking` task, hourly in beat) computes each day that
has ended and whose rollups are not final yet, and computes again the days a late click or a late
flush can still change (`reopened_days`): every computation replaces the day's rows in one
transaction, so a re-run adds nothing twice. A day's rollups are final once computed after those
days have passed; the purge deletes no raw row before then (`final_until`). Days are the shop's
(`days.py`), whatever time zone a request has activated.

Today is rolled up too, up to the minute the task runs. The report reads the rollups, and the raw
rows they do not count (today's since the last run, a day the task has not reached yet): the
same figures as from the raw rows alone.
"""

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..conf import app_settings
from ..models import (
    Click,
    DailyEngagement,
    DailyModelAnswers,
    DailyRollup,
    EngagementEvent,
    Impression,
    RolledUpDay,
)
from . import model_rollups, visits
from .days import day_bounds, days_between, merged, shop_day, shop_day_of, shop_zone

logger = logging.getLogger(__name__)

# How late a batch of events may reach the database after its pages: the record_events task retries
# a refusing database for about 35 minutes, and a broker holds messages while workers restart.
# Days within this (and CLICK_MAX_AGE) of today are computed again at every run.
LATE_EVENT_SECONDS = 6 * 3600

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


def raw_counts(since: datetime, until: datetime) -> list[GroupCounts]:
    """The counts of the raw rows of impressions created in [since, until), per day and group."""
    clicks_of = Click.objects.filter(impression_request_id=OuterRef("request_id"))
    click_count = (
        clicks_of.order_by().values("impression_request_id").annotate(n=Count("pk")).values("n")[:1]
    )
    grouped = (
        Impression.objects.filter(created_at__gte=since, created_at__lt=until)
        .annotate(
            day=shop_day_of("created_at"),
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
    through = dict(
        RolledUpDay.objects.filter(day__gte=start, day__lte=end).values_list("day", "through")
    )
    counts = [
        GroupCounts(
            day=row.day,
            **{name: getattr(row, name) for name in GROUP},
            impressions=row.impressions,
            clicked=row.clicked,
            clicks=row.clicks,
        )
        for row in DailyRollup.objects.filter(day__in=through)
    ]
    raw_ranges = []
    for day in days_between(start, end):
        since, until = day_bounds(day)
        since = max(since, through.get(day, since))
        if since < until:
            raw_ranges.append((since, until))
    for since, until in merged(raw_ranges):
        counts += raw_counts(since, until)
    return _summed(counts)


def roll_up_day(day: date, through: datetime | None = None, now: datetime | None = None) -> int:
    """Compute `day`'s rollups from the raw rows (up to `through`, the day's end by default),
    replacing any earlier ones, as of `now`; rows written."""
    since, until = day_bounds(day)
    through = min(through or until, until)
    counts = raw_counts(since, through)
    # A visit is a whole day: its visits are rolled up once it has ended, never in part; so are
    # the model's answers, whose distinct items and viewers do not add up over hours.
    whole_day = through >= until
    engagement = visits.engagement_rows(day, visits.raw_visits(since, until)) if whole_day else []
    answers = model_rollups.model_answer_rows(day, since, until) if whole_day else []
    computed_at = now or timezone.now()
    # The catalogue while the day ran: counted at each run during it, kept once it has ended.
    earlier = RolledUpDay.objects.filter(day=day).values_list("available_items", flat=True).first()
    available = earlier if whole_day and earlier is not None else model_rollups.available_items()
    with transaction.atomic():
        DailyEngagement.objects.filter(day=day).delete()
        DailyEngagement.objects.bulk_create(engagement)
        DailyModelAnswers.objects.filter(day=day).delete()
        DailyModelAnswers.objects.bulk_create(answers)
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
        RolledUpDay.objects.update_or_create(
            day=day,
            defaults={
                "computed_at": computed_at,
                "through": through,
                "engagement": whole_day,
                "available_items": available,
            },
        )
    return len(counts)


def reopened_days() -> int:
    """Days before today that late events can still change: a click counts CLICK_MAX_AGE seconds
    after its impression, and a batch may reach the database LATE_EVENT_SECONDS after its page."""
    seconds = int(app_settings.CLICK_MAX_AGE) + LATE_EVENT_SECONDS
    return math.ceil(seconds / 86_400) + 1


def roll_up(now: datetime | None = None) -> list[date]:
    """Roll up every ended day whose rollups are not final, the reopened ones again, and today so
    far.

    Today is counted up to the start of the current minute: the report then reads only the raw
    rows since the last run. The days computed are returned.
    """
    now = timezone.localtime(now, shop_zone())
    today = now.date()
    first = _oldest_raw_day()
    if first is None:
        return []
    # A final day is computed again only while late events may still reach it, and never once
    # the purge may have begun on it. Any other day keeps its raw rows until its rollups are
    # final (`final_until`), however old it is.
    kept_from = today - timedelta(days=int(app_settings.TRACKING_RETENTION_DAYS) - 1)
    reopen_from = max(today - timedelta(days=reopened_days()), kept_from)
    final = _final_days(first, today, impressions=True, visits=True)
    days = [
        day
        for day in days_between(first, today - timedelta(days=1))
        if day not in final or day >= reopen_from
    ]
    for day in days:
        roll_up_day(day, now=now)
    if first <= today:
        roll_up_day(today, through=now.replace(second=0, microsecond=0), now=now)
        days.append(today)
    if not days:
        return days
    logger.info(
        "Rolled up %d days of impressions",
        len(days),
        extra={"days": len(days), "first": days[0].isoformat(), "last": days[-1].isoformat()},
    )
    return days


def final_until(
    oldest: datetime, now: datetime | None = None, *, impressions: bool, visits: bool
) -> datetime:
    """The instant before which the raw rows are counted for good: the start of the oldest shop
    day from `oldest` on whose rollups (of impressions, of visits, or both) are not final, and
    never later than the first day late events can still change. The purge stops there."""
    open_from = shop_day(now) - timedelta(days=reopened_days())
    first = shop_day(oldest)
    final = _final_days(first, open_from, impressions=impressions, visits=visits)
    for day in days_between(first, open_from - timedelta(days=1)):
        if day not in final:
            return day_bounds(day)[0]
    return day_bounds(open_from)[0]


def _oldest_raw_day() -> date | None:
    """The shop's day of the oldest raw row (a click may outlive its impression, see retention)."""
    oldest = [
        rows.order_by("created_at").values_list("created_at", flat=True).first()
        for rows in (Impression.objects.all(), EngagementEvent.objects.all(), Click.objects.all())
    ]
    if not any(oldest):
        return None
    return shop_day(min(when for when in oldest if when))


def _final_days(first: date, end: date, *, impressions: bool, visits: bool) -> set[date]:
    """The days in [first, end) whose rollups no late event can change any more: they count the
    whole day (the impressions; with `visits`, the visits too) and were computed once the days
    that reopen it (`reopened_days`) had passed. A day rolled up before visits were is computed
    again while its raw rows are kept."""
    reopened = timedelta(days=reopened_days())
    rolled = RolledUpDay.objects.filter(day__gte=first, day__lt=end)
    if visits:
        rolled = rolled.filter(engagement=True)
    return {
        day
        for day, through, computed_at in rolled.values_list("day", "through", "computed_at")
        if (not impressions or through >= day_bounds(day)[1])
        and computed_at >= day_bounds(day + reopened)[0]
    }


def _summed(counts: list[GroupCounts]) -> list[GroupCounts]:
    """One entry per day and group (today may come from its rollups and its raw rows)."""
    totals: dict[tuple, list[int]] = {}
    for c in counts:
        key = (c.day, *(getattr(c, name) for name in GROUP))
        total = totals.setdefault(key, [0, 0, 0])
        total[0] += c.impressions
        total[1] += c.clicked
        total[2] += c.clicks
    return [
        GroupCounts(key[0], *key[1:], *total)  # type: ignore[arg-type]
        for key, total in sorted(totals.items())
    ]
