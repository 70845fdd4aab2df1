"""Calendar days in the shop's time zone, and the instants that bound them."""

from datetime import date, datetime, timedelta

from django.utils import timezone


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day's first moment and the next day's, in the current time zone."""
    zone = timezone.get_current_timezone()
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
