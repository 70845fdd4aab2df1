"""Visits per day and arm, and the visits each action engaged: from the raw rows or the rollups.

A visit is a signed-in visitor's day with a page that held the widget's slot, in any arm: an
impression where the widget showed items, a `visit` event where the slot showed nothing (the
control arm, an empty widget; see `tracking/engagement.py`). A visitor's day counts once however
many pages and widgets it had. It is engaged
by an action when the visitor did it that day. Because a visit is a whole day, a day is rolled up
(`DailyEngagement`, by `rollups.roll_up_day`) only once it has ended; the days that are not (today,
and any day the task has not reached) are counted from the raw rows.

Counting from the raw rows gathers one small tuple per visit in this process: fine for a day or
two, which is what the report reads raw once the rollups are kept.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Max

from ..models import DailyEngagement, EngagementEvent, Impression, RolledUpDay
from ..tracking import engagement
from . import stats
from .days import day_bounds, days_between, merged, shop_day_of

ANY = "any"  # a visit with at least one of the shop's actions
ACTIONS = (*engagement.SHOP_ACTIONS, ANY)
CHUNK = 5000  # rows per fetch: a day has a row per visit


@dataclass
class ArmVisits:
    """One arm's visits, and the visits engaged by each action (and by any of them)."""

    visits: int = 0
    engaged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))

    def rate(self, action: str) -> float | None:
        """Share of the visits engaged by `action`."""
        return stats.rate(self.engaged[action], self.visits)

    def __add__(self, other: "ArmVisits") -> "ArmVisits":
        return ArmVisits(
            self.visits + other.visits,
            {action: self.engaged[action] + other.engaged[action] for action in ACTIONS},
        )


def raw_visits(since: datetime, until: datetime) -> dict[tuple[date, str], ArmVisits]:
    """Visits and engaged visits per (day, arm), from the raw rows created in [since, until)."""
    arm_of = _visit_arms(since, until)
    actions_of: dict[tuple[str, date], set[str]] = defaultdict(set)
    done = (
        EngagementEvent.objects.filter(
            created_at__gte=since, created_at__lt=until, action__in=engagement.SHOP_ACTIONS
        )
        .annotate(day=shop_day_of("created_at"))
        .values_list("pseudonym", "day", "action")
        .distinct()
        .order_by()
    )
    for user_key, day, action in done.iterator(chunk_size=CHUNK):
        actions_of[(user_key, day)].add(action)

    counts: dict[tuple[date, str], ArmVisits] = defaultdict(ArmVisits)
    for (user_key, day), arm in arm_of.items():
        visits = counts[(day, arm)]
        visits.visits += 1
        actions = actions_of.get((user_key, day), set())
        for action in actions:
            visits.engaged[action] += 1
        if actions:
            visits.engaged[ANY] += 1
    return dict(counts)


def rolled_up_visits(days: list[date]) -> dict[tuple[date, str], ArmVisits]:
    """Visits and engaged visits per (day, arm) of these days, from their rollups."""
    counts: dict[tuple[date, str], ArmVisits] = defaultdict(ArmVisits)
    for day, arm, action, visits in DailyEngagement.objects.filter(day__in=days).values_list(
        "day", "arm", "action", "visits"
    ):
        if action == engagement.VISIT:
            counts[(day, arm)].visits = visits
        elif action in ACTIONS:
            counts[(day, arm)].engaged[action] = visits
    return dict(counts)


def visits_by_arm(start: date, end: date) -> dict[str, ArmVisits]:
    """Each arm's visits over the days start..end (inclusive): rollups where a whole day is rolled
    up, raw rows for the other days (mostly today)."""
    rolled = set(
        RolledUpDay.objects.filter(day__gte=start, day__lte=end, engagement=True).values_list(
            "day", flat=True
        )
    )
    per_day = rolled_up_visits(sorted(rolled))
    raw_days = [day_bounds(day) for day in days_between(start, end) if day not in rolled]
    for since, until in merged(raw_days):
        per_day.update(raw_visits(since, until))
    by_arm: dict[str, ArmVisits] = defaultdict(ArmVisits)
    for (_, arm), visits in per_day.items():
        by_arm[arm] = by_arm[arm] + visits
    return dict(by_arm)


def engagement_rows(day: date, counts: dict[tuple[date, str], ArmVisits]) -> list[DailyEngagement]:
    """The rollup rows of `day` for its counts (a row per arm and action with visits)."""
    rows = []
    for (counted_day, arm), visits in sorted(counts.items()):
        if counted_day != day:
            continue
        rows.append(
            DailyEngagement(day=day, arm=arm, action=engagement.VISIT, visits=visits.visits)
        )
        rows += [
            DailyEngagement(day=day, arm=arm, action=action, visits=engaged)
            for action, engaged in visits.engaged.items()
            if engaged
        ]
    return rows


def _visit_arms(since: datetime, until: datetime) -> dict[tuple[str, date], str]:
    """Each visit's arm, keyed by (pseudonym, day): from the impressions of widgets that showed
    items and the visit events of slots that showed nothing."""
    arm_of: dict[tuple[str, date], str] = {}
    sources = (
        Impression.objects.exclude(pseudonym=""),
        EngagementEvent.objects.filter(action=engagement.VISIT),
    )
    for rows in sources:
        grouped = (
            rows.filter(created_at__gte=since, created_at__lt=until)
            .annotate(day=shop_day_of("created_at"))
            .values_list("pseudonym", "day")
            # The greater name, should a share have changed during the day.
            .annotate(arm=Max("arm"))
            .order_by()
        )
        for user_key, day, arm in grouped.iterator(chunk_size=CHUNK):
            arm_of.setdefault((user_key, day), arm)
    return arm_of
