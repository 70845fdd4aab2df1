"""Widget against no widget: engaged visits per arm, and the widget's lift over the control arm.

A visit is a signed-in visitor's day with a page that held the widget's slot (an impression
where the widget showed items, a `visit` event where it showed nothing, see `engagement.py`),
counted once in whichever arm; it is engaged by an
action when the visitor did it that day. The widget arms (model, second variant and holdout
together) are compared with the control arm as assigned (intent to treat): a visit whose widget
fell back, or that nobody looked at, still counts for the widget, because that is what putting
the widget on the page gives the shop.

Past days come from the daily rollups (`visits.py`, computed by the `roll_up_tracking` task), so
the report's cost does not grow with the raw rows; only the days not rolled up yet (today) are
counted from them.
"""

from dataclasses import dataclass
from datetime import date

from ..tracking import arms
from . import stats
from .report import report_period
from .visits import ACTIONS, ANY, ArmVisits, visits_by_arm

__all__ = ["ACTIONS", "ANY", "ArmVisits", "EngagementReport", "build_engagement_report"]

TARGET_LIFT = 0.5  # the shop's goal: the widget raises engagement by 50%
WIDGET = "widget"  # every arm that is shown a widget, together


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


def build_engagement_report(
    days: int = 14, today: date | None = None, confidence: float = 0.95
) -> EngagementReport:
    """Engaged visits per arm over the `days` days up to `today`, and the widget's lifts."""
    start, end, _, _ = report_period(days, today)
    by_arm = visits_by_arm(start, end)
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
