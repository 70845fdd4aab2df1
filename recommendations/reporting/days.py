"""Calendar days in the shop's time zone, and the instants that bound them.

Every report and rollup cuts days in the shop's zone (settings.TIME_ZONE), never in the zone a
request activates for its user: the rollups of a day are stored once, and a report read under
another zone would count the hours between the two midnights twice or not at all.
"""

from datetime import date, datetime, timedelta, tzinfo

from django.db.models.functions import TruncDate
from django.utils import timezone


def shop_zone() -> tzinfo:
    """The shop's time zone (settings.TIME_ZONE), whatever zone is active."""
    return timezone.get_default_timezone()


def shop_day(when: datetime | None = None) -> date:
    """The shop's day of `when` (now by default)."""
    return timezone.localdate(when, timezone=shop_zone())


def shop_day_of(field: str) -> TruncDate:
    """A database expression for the shop's day of the datetime column `field`."""
    return TruncDate(field, tzinfo=shop_zone())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day's first moment and the next day's, in the shop's time zone."""
    zone = shop_zone()
    since = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return since, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def days_between(start: date, end: date) -> list[date]:
    """The days start..end, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def merged(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Adjacent [since, until) ranges joined."""
    joined: list[tuple[datetime, datetime]] = []
    for since, until in ranges:
        if joined and joined[-1][1] == since:
            joined[-1] = (joined[-1][0], until)
        else:
            joined.append((since, until))
    return joined
