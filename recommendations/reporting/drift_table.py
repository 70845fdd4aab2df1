"""The report's drift tables: each model version's daily drift figures over the report's days."""

from collections import defaultdict
from datetime import date

from ..models import DailyDrift


def drift_by_version(start: date, end: date) -> dict[str, list[DailyDrift]]:
    """{model version: its DailyDrift rows from `start` to `end`, oldest first}, newest version first."""
    rows = DailyDrift.objects.filter(day__gte=start, day__lte=end).order_by("day", "model_version")
    by_version: dict[str, list[DailyDrift]] = defaultdict(list)
    for row in rows:
        by_version[row.model_version].append(row)
    # The version seen last first: the live model's table tops the section.
    return dict(sorted(by_version.items(), key=lambda pair: pair[1][-1].day, reverse=True))
