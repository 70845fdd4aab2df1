"""How CloudWatch would judge a metric alarm on a series of daily values: for simulations
(demo_shop's `simulate_week`), never a stand-in for CloudWatch itself.

A metric alarm looks at its last `EvaluationPeriods` periods (for the quality alarms a period is a
day, one published value each) and goes to ALARM when at least `DatapointsToAlarm` of them
(default: all) breach, that is compare to `Threshold` as `ComparisonOperator` says. A period
without a value counts as `TreatMissingData` says: "notBreaching" (the quality alarms' choice)
as a good value, "breaching" as a bad one; "ignore" and "missing" leave it out, and with no
value left the state is INSUFFICIENT_DATA. (CloudWatch's "ignore" keeps the previous state
instead; these alarms do not use it.)
"""

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

ALARM = "ALARM"
OK = "OK"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def breaches(alarm: Mapping[str, Any], value: float) -> bool:
    """True when `value` is on the alarming side of the alarm's threshold."""
    compare = OPERATORS[alarm["ComparisonOperator"]]
    return compare(float(value), float(alarm["Threshold"]))


def alarm_state(alarm: Mapping[str, Any], values: Sequence[float | None]) -> str:
    """The alarm's state after the last of `values` (one per period, oldest first; None: no value
    in that period), given PutMetricAlarm's parameters `alarm`."""
    periods = int(alarm.get("EvaluationPeriods", 1))
    needed = int(alarm.get("DatapointsToAlarm", periods))
    missing = alarm.get("TreatMissingData", "missing")
    window = list(values)[-periods:]
    window = [None] * (periods - len(window)) + window  # before the first value: no data
    judged: list[bool] = []
    for value in window:
        if value is not None:
            judged.append(breaches(alarm, value))
        elif missing == "breaching":
            judged.append(True)
        elif missing == "notBreaching":
            judged.append(False)
    if not judged:
        return INSUFFICIENT_DATA
    return ALARM if sum(judged) >= needed else OK
