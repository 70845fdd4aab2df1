"""Number formats of the admin report: `{% load recommendations_report %}`."""

from django import template

register = template.Library()

MISSING = "\u2013"  # an en dash


@register.filter
def percent(value: float | None, digits: int = 2) -> str:
    """0.0123 -> "1.23%"; None -> an en dash."""
    if value is None:
        return MISSING
    return f"{value * 100:.{int(digits)}f}%"


@register.filter
def signed_percent(value: float | None, digits: int = 1) -> str:
    """0.5 -> "+50.0%"; None -> an en dash."""
    if value is None:
        return MISSING
    return f"{value * 100:+.{int(digits)}f}%"


@register.filter
def points(value: float | None, digits: int = 2) -> str:
    """A difference of rates in percentage points: 0.02 -> "+2.00 pp"; None -> an en dash."""
    if value is None:
        return MISSING
    return f"{value * 100:+.{int(digits)}f} pp"
