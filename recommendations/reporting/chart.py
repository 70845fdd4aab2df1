"""A server-rendered SVG line chart of CTR per day per arm (no script, nothing from a CDN)."""

import math
from collections.abc import Mapping, Sequence
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from .report import Counts

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 130, 16, 36
COLOURS = {"model": "#1f6fb4", "holdout": "#7a7a7a", "variant": "#d9730d", "anonymous": "#3b9a4a"}
OTHER_COLOUR = "#9b59b6"


def _n(value: float) -> str:
    """A coordinate with one decimal (format_html turns arguments to text before formatting)."""
    return f"{value:.1f}"


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is at least `value` (an axis maximum)."""
    if value <= 0:
        return 0.01
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)  # pragma: no cover - the loop always returns


def ctr_chart(
    days: Sequence[date], daily_by_arm: Mapping[str, Mapping[date, Counts]]
) -> SafeString:
    """An SVG chart: one line per arm, a point per day with impressions, CTR on the y axis."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    rates = [
        counts.ctr
        for per_day in daily_by_arm.values()
        for counts in per_day.values()
        if counts.ctr is not None
    ]
    y_max = _nice_ceiling(max(rates, default=0.0))
    span = max(1, len(days) - 1)

    def x(index: int) -> float:
        return LEFT + plot_w * (index / span if len(days) > 1 else 0.5)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / y_max)

    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e3e3e3"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#555">{}</text>',
        (
            (
                LEFT,
                _n(y(tick)),
                LEFT + plot_w,
                _n(y(tick)),
                LEFT - 6,
                _n(y(tick) + 4),
                f"{tick:.1%}",
            )
            for tick in (y_max * step / 4 for step in range(5))
        ),
    )
    label_every = max(1, math.ceil(len(days) / 8))
    x_labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#555">{}</text>',
        (
            (_n(x(i)), HEIGHT - BOTTOM + 16, day.strftime("%b %d"))
            for i, day in enumerate(days)
            # The last day is labelled too, unless it would overlap the label before it.
            if i % label_every == 0
            or (i == len(days) - 1 and i % label_every >= max(2, label_every / 2))
        ),
    )
    index = {day: i for i, day in enumerate(days)}
    series = []
    for n, (arm, per_day) in enumerate(sorted(daily_by_arm.items())):
        colour = COLOURS.get(arm, OTHER_COLOUR)
        points = [
            (x(index[day]), y(counts.ctr), day, counts)
            for day, counts in sorted(per_day.items())
            if day in index and counts.ctr is not None
        ]
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
        dots = format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} {}: CTR {} '
            "({} of {} impressions)</title></circle>",
            (
                (
                    _n(px),
                    _n(py),
                    colour,
                    arm,
                    day.isoformat(),
                    f"{c.ctr:.2%}",
                    c.clicked,
                    c.impressions,
                )
                for px, py, day, c in points
            ),
        )
        legend_y = TOP + 14 + 18 * n
        series.append(
            format_html(
                '<g class="series" data-arm="{}"><polyline points="{}" fill="none" stroke="{}" '
                'stroke-width="2"/>{}<rect x="{}" y="{}" width="12" height="3" fill="{}"/>'
                '<text x="{}" y="{}" font-size="12" fill="#333">{}</text></g>',
                arm,
                line,
                colour,
                dots,
                WIDTH - RIGHT + 14,
                legend_y - 4,
                colour,
                WIDTH - RIGHT + 32,
                legend_y,
                arm,
            )
        )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" '
        'role="img" aria-label="Click-through rate per day per arm">'
        '<rect width="100%" height="100%" fill="#fff"/>{}{}'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        grid,
        x_labels,
        LEFT,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        mark_safe("".join(series)),  # noqa: S308 - each part was built with format_html
    )
