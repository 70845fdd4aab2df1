"""The model's quality per day, model version and production variant, from the daily rollups only.

Only whole days that are rolled up count (`RolledUpDay.engagement`), so a day's figures are the
same however often it is read and cost no more as raw rows grow. For each day on which a version
and variant answered (`DailyModelAnswers`): CTR and its lift over the holdout (the `LiftVsHoldout`
CloudWatch gets), engagement lift over the control arm, coverage, fallback share and its reasons,
stale share and cold-start share; and when each version went live (its first impression ever).
Engagement and fallbacks are recorded per arm, not per version: a day of an arm is attributed to
every version that served that arm that day. The formulas and how to read them: docs/measuring.md,
"Quality over time".
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Min

from ..models import DailyEngagement, DailyModelAnswers, DailyRollup, RolledUpDay
from ..tracking import arms, engagement
from . import stats
from .visits import ANY

MODEL_ARMS = (arms.MODEL, arms.SECOND_VARIANT)
SHOWN_SOURCES = ("model", "mixed")


@dataclass(frozen=True)
class DayQuality:
    """One day's figures of one model version and variant (None: not defined that day)."""

    day: date
    model_version: str
    variant: str
    impressions: int
    clicked: int
    ctr: float | None
    lift_vs_holdout: stats.Interval | None
    engagement_lift: stats.Interval | None
    coverage: float | None
    fallback_share: float | None
    fallback_reasons: dict[str, float]
    stale_share: float | None
    cold_start_share: float | None

    def figures(self) -> dict[str, object]:
        """The day's figures as plain values (the lifts' estimates), for /metrics and CloudWatch
        (ops/quality_metrics.py, ops/cloudwatch.py): JSON-ready."""
        return {
            "model_version": self.model_version,
            "variant": self.variant,
            "ctr": self.ctr,
            "lift_vs_holdout": self.lift_vs_holdout and self.lift_vs_holdout.estimate,
            "engagement_lift": self.engagement_lift and self.engagement_lift.estimate,
            "coverage": self.coverage,
            "fallback_share": self.fallback_share,
            "fallback_reasons": dict(self.fallback_reasons),
            "stale_share": self.stale_share,
            "cold_start_share": self.cold_start_share,
        }


@dataclass
class QualityReport:
    """Every day's figures per version and variant, and when each version went live."""

    days: list[date]
    series: dict[tuple[str, str], list[DayQuality]]  # (version, variant): oldest day first
    went_live: dict[str, datetime] = field(default_factory=dict)

    def newest(self) -> list[DayQuality]:
        """The figures of the newest day that has any."""
        last = max((rows[-1].day for rows in self.series.values()), default=None)
        return [rows[-1] for rows in self.series.values() if rows[-1].day == last]

    def newest_with_went_live(self) -> list[tuple[DayQuality, datetime | None]]:
        """The newest day's figures, each with when its version went live (for the template)."""
        return [(row, self.went_live.get(row.model_version)) for row in self.newest()]


@dataclass
class _Counts:
    impressions: int = 0
    clicked: int = 0


def build_quality(start: date, end: date, confidence: float = 0.95) -> QualityReport:
    """The quality figures of the whole rolled-up days from `start` to `end` (inclusive)."""
    available = dict(
        RolledUpDay.objects.filter(day__gte=start, day__lte=end, engagement=True).values_list(
            "day", "available_items"
        )
    )
    days = sorted(available)
    answers = list(DailyModelAnswers.objects.filter(day__in=days))
    shown: dict[tuple, _Counts] = defaultdict(_Counts)  # (day, version, variant)
    served_arms: dict[tuple, set[str]] = defaultdict(set)  # (day, version, variant)
    holdout: dict[date, _Counts] = defaultdict(_Counts)
    arm_views: dict[tuple[date, str], int] = defaultdict(int)
    arm_fallbacks: dict[tuple[date, str, str], int] = defaultdict(int)  # (day, arm, reason)
    rollups = DailyRollup.objects.filter(day__in=days, arm__in=(*MODEL_ARMS, arms.HOLDOUT))
    for row in rollups:
        if row.arm == arms.HOLDOUT:
            _add(holdout[row.day], row.impressions, row.clicked)
            continue
        arm_views[row.day, row.arm] += row.impressions
        if row.source == "fallback":
            arm_fallbacks[row.day, row.arm, row.fallback_reason] += row.impressions
        if row.model_version:
            key = (row.day, row.model_version, row.variant)
            served_arms[key].add(row.arm)
            if row.source in SHOWN_SOURCES:
                _add(shown[key], row.impressions, row.clicked)
    visits = _visits(days)

    series: dict[tuple[str, str], list[DayQuality]] = defaultdict(list)
    for row in sorted(answers, key=lambda r: (r.model_version, r.variant, r.day)):
        key = (row.day, row.model_version, row.variant)
        counts, hold, served = shown[key], holdout[row.day], served_arms[key]
        views = sum(arm_views[row.day, arm] for arm in served)
        reasons: dict[str, int] = defaultdict(int)
        for (day, arm, reason), count in arm_fallbacks.items():
            if day == row.day and arm in served:
                reasons[reason or "unknown"] += count
        widget_visits, widget_engaged = (
            sum(visits[row.day, arm][i] for arm in served) for i in (0, 1)
        )
        control_visits, control_engaged = visits[row.day, arms.CONTROL]
        series[row.model_version, row.variant].append(
            DayQuality(
                day=row.day,
                model_version=row.model_version,
                variant=row.variant,
                impressions=counts.impressions,
                clicked=counts.clicked,
                ctr=stats.rate(counts.clicked, counts.impressions),
                lift_vs_holdout=stats.lift_interval(
                    counts.clicked, counts.impressions, hold.clicked, hold.impressions, confidence
                ),
                engagement_lift=stats.lift_interval(
                    widget_engaged, widget_visits, control_engaged, control_visits, confidence
                ),
                coverage=_share(row.items_shown, available.get(row.day)),
                fallback_share=stats.rate(sum(reasons.values()), views),
                fallback_reasons={
                    reason: count / views for reason, count in sorted(reasons.items())
                },
                stale_share=stats.rate(row.dropped, row.checked),
                cold_start_share=stats.rate(row.cold_viewers, row.viewers),
            )
        )
    versions = {version for version, _ in series}
    went_live = dict(
        DailyModelAnswers.objects.filter(model_version__in=versions)
        .values("model_version")
        .annotate(first=Min("first_served"))
        .values_list("model_version", "first")
        .order_by()
    )
    return QualityReport(days=days, series=dict(series), went_live=went_live)


def _add(counts: _Counts, impressions: int, clicked: int) -> None:
    counts.impressions += impressions
    counts.clicked += clicked


def _share(part: int, whole: int | None) -> float | None:
    """part / whole, capped at 1 (the catalogue may have shrunk after an item was shown)."""
    return min(1.0, part / whole) if whole else None


def _visits(days: list[date]) -> dict[tuple[date, str], tuple[int, int]]:
    """(visits, visits with any of the shop's actions) per day and arm, from the rollups."""
    counts: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    rows = DailyEngagement.objects.filter(day__in=days, action__in=(engagement.VISIT, ANY))
    for day, arm, action, number in rows.values_list("day", "arm", "action", "visits"):
        counts[day, arm][0 if action == engagement.VISIT else 1] = number
    return defaultdict(lambda: (0, 0), {key: (v, e) for key, (v, e) in counts.items()})
