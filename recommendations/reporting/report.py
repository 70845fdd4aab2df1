"""The widget's measurement report: impressions, clicks and CTR per day, arm, source and variant,
the model's lift over the holdout with its interval, and why the model arms saw the fallback.

CTR is the share of impressions with at least one click. Arms are compared as assigned
(intent to treat): a model-arm impression that fell back to the local ranking still counts for
the model arm, because that is what shipping the model gives the shop.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..tracking import arms, events
from . import rollups, stats
from .days import day_bounds, shop_day

# The report's default window in days; raw rows are kept at least this long (checks/settings.py).
REPORT_DAYS = 14

# (treated arm, reference arm): the comparisons the report makes when both arms have data.
COMPARISONS = ((arms.MODEL, arms.HOLDOUT), (arms.SECOND_VARIANT, arms.MODEL))
MODEL_ARMS = (arms.MODEL, arms.SECOND_VARIANT)


@dataclass(frozen=True)
class Counts:
    """Impressions, impressions with a click, and clicks."""

    impressions: int = 0
    clicked: int = 0
    clicks: int = 0

    @property
    def ctr(self) -> float | None:
        """Share of impressions with at least one click."""
        return stats.rate(self.clicked, self.impressions)

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(
            self.impressions + other.impressions,
            self.clicked + other.clicked,
            self.clicks + other.clicks,
        )


@dataclass(frozen=True)
class Row:
    """One day, arm, source and variant."""

    day: date
    arm: str
    source: str
    variant: str
    counts: Counts


@dataclass(frozen=True)
class Comparison:
    """A treated arm against a reference arm."""

    treated: str
    reference: str
    treated_counts: Counts
    reference_counts: Counts
    difference: stats.Interval | None
    lift: stats.Interval | None
    p_value: float | None


@dataclass
class Report:
    """Everything the admin report page shows."""

    start: date
    end: date  # inclusive
    rows: list[Row]
    by_arm: dict[str, Counts]
    daily_by_arm: dict[str, dict[date, Counts]]
    comparisons: list[Comparison]
    model_arm_impressions: int
    model_arm_sources: dict[str, int]
    fallback_reasons: list[tuple[str, int]]
    dropped_events: int = 0
    lost_batches: int = 0
    days: list[date] = field(default_factory=list)

    @property
    def fallback_rate(self) -> float | None:
        """Share of the model arms' impressions served entirely by the fallback."""
        return stats.rate(self.model_arm_sources.get("fallback", 0), self.model_arm_impressions)

    @property
    def totals(self) -> Counts:
        """All impressions of the period."""
        return sum(self.by_arm.values(), Counts())


def report_period(days: int, today: date | None) -> tuple[date, date, datetime, datetime]:
    """The report's first and last day, and the instants that bound them in the shop's time zone."""
    end = today or shop_day()
    start = end - timedelta(days=days - 1)
    return start, end, day_bounds(start)[0], day_bounds(end)[1]


def build_report(days: int = 14, today: date | None = None, confidence: float = 0.95) -> Report:
    """The report over the `days` days up to `today` (the current date by default)."""
    start, end, _, _ = report_period(days, today)
    # Rollups for the days computed, raw rows for the others (today): see rollups.py.
    counts = rollups.counts_between(start, end)
    grouped: dict[tuple, Counts] = defaultdict(Counts)
    for c in counts:
        grouped[c.day, c.arm, c.source, c.variant] += Counts(c.impressions, c.clicked, c.clicks)
    rows = [
        Row(day=day, arm=arm, source=source, variant=variant, counts=group_counts)
        for (day, arm, source, variant), group_counts in sorted(grouped.items())
    ]
    by_arm: dict[str, Counts] = defaultdict(Counts)
    daily: dict[str, dict[date, Counts]] = defaultdict(lambda: defaultdict(Counts))
    for row in rows:
        by_arm[row.arm] += row.counts
        daily[row.arm][row.day] += row.counts

    comparisons = []
    for treated, reference in COMPARISONS:
        a, b = by_arm.get(treated), by_arm.get(reference)
        if a and b and a.impressions and b.impressions:
            comparisons.append(
                Comparison(
                    treated,
                    reference,
                    a,
                    b,
                    stats.difference_interval(
                        a.clicked, a.impressions, b.clicked, b.impressions, confidence
                    ),
                    stats.lift_interval(
                        a.clicked, a.impressions, b.clicked, b.impressions, confidence
                    ),
                    stats.p_value(a.clicked, a.impressions, b.clicked, b.impressions),
                )
            )

    sources: Counter[str] = Counter()
    reason_counts: Counter[str] = Counter()
    for c in counts:
        if c.arm in MODEL_ARMS:
            sources[c.source] += c.impressions
            if c.fallback_reason:
                reason_counts[c.fallback_reason] += c.impressions
    reasons = sorted(reason_counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return Report(
        start=start,
        end=end,
        rows=rows,
        by_arm={arm: by_arm[arm] for arm in sorted(by_arm)},
        daily_by_arm={arm: dict(days_) for arm, days_ in daily.items()},
        comparisons=comparisons,
        model_arm_impressions=sum(sources.values()),
        model_arm_sources=dict(sources),
        fallback_reasons=[(reason, n) for reason, n in reasons],
        dropped_events=events.dropped_total(),
        lost_batches=events.lost_batches_total(),
        days=[start + timedelta(days=n) for n in range(days)],
    )
