"""Widget against no widget: engaged visits per arm, and the widget's lift over the control arm.

A visit is a signed-in visitor's day with a page that held the widget's slot (an impression in
the widget arms, a `visit` event in the control arm, see `engagement.py`); it is engaged by an
action when the visitor did it that day. The widget arms (model, second variant and holdout
together) are compared with the control arm as assigned (intent to treat): a visit whose widget
fell back, or that nobody looked at, still counts for the widget, because that is what putting
the widget on the page gives the shop.

The visits are gathered in this process, one small tuple each: fine for an admin page over some
hundred thousand visits, not for tens of millions.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Max
from django.db.models.functions import TruncDate

from ..models import EngagementEvent, Impression
from ..tracking import arms, engagement
from . import stats
from .report import report_period

TARGET_LIFT = 0.5  # the shop's goal: the widget raises engagement by 50%
WIDGET = "widget"  # every arm that is shown a widget, together
ANY = "any"  # a visit with at least one of the shop's actions
ACTIONS = (*engagement.SHOP_ACTIONS, ANY)
CHUNK = 5000  # rows per fetch: a long period has a row per visit


@dataclass
class ArmVisits:
    """One arm's visits, visitors, and visits engaged by each action (and by any of them)."""

    visits: int = 0
    visitors: int = 0
    engaged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))

    def rate(self, action: str) -> float | None:
        """Share of the visits engaged by `action`."""
        return stats.rate(self.engaged[action], self.visits)

    def __add__(self, other: "ArmVisits") -> "ArmVisits":
        return ArmVisits(
            self.visits + other.visits,
            self.visitors + other.visitors,
            {action: self.engaged[action] + other.engaged[action] for action in ACTIONS},
        )


@dataclass(frozen=True)
class ActionLift:
    """The widget's visits against the control arm's for one action."""

    action: str
    widget_rate: float | None
    control_rate: float | None
    difference: stats.Interval | None
    lift: stats.Interval | None
    p_value: float | None
    visits_needed: int | None  # per arm, to detect TARGET_LIFT over the control arm's rate

    @property
    def verdict(self) -> str:
        """Whether the data support or rule out TARGET_LIFT at the interval's confidence."""
        if self.lift is None:
            return "not enough data"
        if self.lift.low >= TARGET_LIFT:
            return "supported"
        if self.lift.high < TARGET_LIFT:
            return "ruled out"
        return "neither shown nor ruled out"


@dataclass
class EngagementReport:
    """Visits and engagement per arm, and the widget-against-no-widget lifts."""

    start: date
    end: date  # inclusive
    by_arm: dict[str, ArmVisits]
    widget: ArmVisits
    control: ArmVisits
    lifts: list[ActionLift]
    target_lift: float = TARGET_LIFT

    @property
    def has_comparison(self) -> bool:
        """Whether both sides have visits."""
        return bool(self.widget.visits and self.control.visits)


def visits_needed(baseline_rate: float | None, lift: float = TARGET_LIFT) -> int | None:
    """Visits per arm to detect `lift` over `baseline_rate` (95%, power 80%); None if undefined."""
    if baseline_rate is None or not 0 < baseline_rate < 1 or baseline_rate * (1 + lift) >= 1:
        return None
    return stats.impressions_needed(baseline_rate, lift)


def compare(
    widget: ArmVisits, control: ArmVisits, action: str, confidence: float = 0.95
) -> ActionLift:
    """The widget arms against the control arm for one action."""
    a, n_a = widget.engaged[action], widget.visits
    b, n_b = control.engaged[action], control.visits
    return ActionLift(
        action=action,
        widget_rate=widget.rate(action),
        control_rate=control.rate(action),
        difference=stats.difference_interval(a, n_a, b, n_b, confidence),
        lift=stats.lift_interval(a, n_a, b, n_b, confidence),
        p_value=stats.p_value(a, n_a, b, n_b),
        visits_needed=visits_needed(control.rate(action)),
    )


def _visit_arms(since: datetime, until: datetime) -> dict[tuple[str, date], str]:
    """Each visit's arm, keyed by (pseudonym, day): the widget arms' impressions, the control
    arm's visit events."""
    arm_of: dict[tuple[str, date], str] = {}
    sources = (
        Impression.objects.exclude(pseudonym=""),
        EngagementEvent.objects.filter(action=engagement.VISIT),
    )
    for rows in sources:
        grouped = (
            rows.filter(created_at__gte=since, created_at__lt=until)
            .annotate(day=TruncDate("created_at"))
            .values_list("pseudonym", "day")
            # The greater name, should a share have changed during the day.
            .annotate(arm=Max("arm"))
            .order_by()
        )
        for user_key, day, arm in grouped.iterator(chunk_size=CHUNK):
            arm_of.setdefault((user_key, day), arm)
    return arm_of


def build_engagement_report(
    days: int = 14, today: date | None = None, confidence: float = 0.95
) -> EngagementReport:
    """Engaged visits per arm over the `days` days up to `today`, and the widget's lifts."""
    start, end, since, until = report_period(days, today)
    arm_of = _visit_arms(since, until)
    actions_of: dict[tuple[str, date], set[str]] = defaultdict(set)
    done = (
        EngagementEvent.objects.filter(created_at__gte=since, created_at__lt=until)
        .exclude(action=engagement.VISIT)
        .annotate(day=TruncDate("created_at"))
        .values_list("pseudonym", "day", "action")
        .distinct()
        .order_by()
    )
    for user_key, day, action in done.iterator(chunk_size=CHUNK):
        actions_of[(user_key, day)].add(action)

    by_arm: dict[str, ArmVisits] = defaultdict(ArmVisits)
    visitors: dict[str, set[str]] = defaultdict(set)
    for key, arm in arm_of.items():
        counts = by_arm[arm]
        counts.visits += 1
        visitors[arm].add(key[0])
        actions = actions_of.get(key, set()) & set(engagement.SHOP_ACTIONS)
        for action in actions:
            counts.engaged[action] += 1
        if actions:
            counts.engaged[ANY] += 1
    for arm, keys in visitors.items():
        by_arm[arm].visitors = len(keys)
    control = by_arm.get(arms.CONTROL, ArmVisits())
    widget = sum((counts for arm, counts in by_arm.items() if arm != arms.CONTROL), ArmVisits())
    return EngagementReport(
        start=start,
        end=end,
        by_arm={arm: by_arm[arm] for arm in sorted(by_arm)},
        widget=widget,
        control=control,
        lifts=[compare(widget, control, action, confidence) for action in ACTIONS],
    )
