"""Small server-rendered SVG time series of the quality figures: a line per model version and
variant, a point per day, the interval of a lift as a whisker, and a dashed vertical mark at the
moment each version went live (no script, nothing from a CDN)."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from . import stats
from .chart import _n, _nice_ceiling
from .days import shop_zone
from .quality import DayQuality, QualityReport

WIDTH, HEIGHT = 430, 190
LEFT, RIGHT, TOP, BOTTOM = 50, 108, 22, 30
PALETTE = ("#1f6fb4", "#d9730d", "#3b9a4a", "#9b59b6", "#c0392b", "#7a7a7a")
DASHES = ("", "6 3", "2 3")  # a version's variants: solid, dashed, dotted


@dataclass(frozen=True)
class Figure:
    """One quality figure: its name (for CSS and tests), title, how to read it from a day's
    figures, and whether it is a signed lift (with an interval) or a share."""

    name: str
    title: str
    read: Callable[[DayQuality], object]
    lift: bool = False


FIGURES = (
    Figure("ctr", "CTR of the version's page views", lambda q: q.ctr),
    Figure(
        "lift-vs-holdout", "CTR lift over the holdout (fallback)", lambda q: q.lift_vs_holdout, True
    ),
    Figure(
        "engagement-lift",
        "Engagement lift over no widget (control)",
        lambda q: q.engagement_lift,
        True,
    ),
    Figure("coverage", "Catalogue coverage", lambda q: q.coverage),
    Figure("fallback-share", "Page views served by the fallback", lambda q: q.fallback_share),
    Figure("stale-share", "Model items dropped as unavailable (stale)", lambda q: q.stale_share),
    Figure(
        "cold-start-share",
        "Viewers the model did not know (cold start)",
        lambda q: q.cold_start_share,
    ),
)


@dataclass(frozen=True)
class Chart:
    """One figure's chart, for the template."""

    name: str
    title: str
    svg: SafeString


def quality_charts(days: Sequence[date], report: QualityReport) -> list[Chart]:
    """A chart per figure over `days`, when any version has figures."""
    if not report.series:
        return []
    return [Chart(f.name, f.title, series_chart(f, days, report)) for f in FIGURES]


def _label(version: str, variant: str) -> str:
    return f"{version} · {variant}" if variant else version


def _format(value: float, lift: bool) -> str:
    return f"{value:+.1%}" if lift else f"{value:.1%}"


def series_chart(figure: Figure, days: Sequence[date], report: QualityReport) -> SafeString:
    """The SVG of one figure: every version and variant of `report` over `days`."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    index = {day: i for i, day in enumerate(days)}
    colour_of = {v: PALETTE[n % len(PALETTE)] for n, v in enumerate(sorted(report.went_live))}
    points: dict[tuple[str, str], list[tuple[int, float, float, float, DayQuality]]] = {}
    for key, rows in sorted(report.series.items()):
        for row in rows:
            value = figure.read(row)
            if row.day not in index or value is None:
                continue
            estimate, low, high = (
                (value.estimate, value.low, value.high) if figure.lift else (value,) * 3  # type: ignore[attr-defined]
            )
            points.setdefault(key, []).append((index[row.day], estimate, low, high, row))
    estimates = [p[1] for line in points.values() for p in line]
    top = max([*estimates, 0.0])
    bottom = min([*estimates, 0.0])
    if figure.lift:
        # The intervals, as far as they stay readable: a day's can be many times its estimate.
        top = max(
            [top, *(min(p[3], 1.5 * max(top, 0.5)) for line in points.values() for p in line)]
        )
        bottom = min([bottom, *(p[2] for line in points.values() for p in line)])
    # Four steps of a round size that span the values, with 0 on a grid line.
    step = _nice_ceiling((top - bottom) / 4)
    y_min = math.floor(bottom / step + 1e-9) * step
    y_max = max(y_min + step, math.ceil(top / step - 1e-9) * step)

    def x(position: float) -> float:
        return LEFT + plot_w * (position + 0.5) / max(1, len(days))

    def y(value: float) -> float:
        clamped = min(y_max, max(y_min, value))
        return TOP + plot_h * (1 - (clamped - y_min) / (y_max - y_min))

    ticks = [y_min + step * n for n in range(round((y_max - y_min) / step) + 1)]
    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="10" fill="#555">{}</text>',
        (
            (
                LEFT,
                _n(y(t)),
                LEFT + plot_w,
                _n(y(t)),
                "#999" if t == 0 else "#e3e3e3",
                LEFT - 5,
                _n(y(t) + 3),
                _format(t, figure.lift),
            )
            for t in ticks
        ),
    )
    every = max(1, -(-len(days) // 6))
    x_labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle" font-size="10" fill="#555">{}</text>',
        (
            (_n(x(i)), HEIGHT - BOTTOM + 14, day.strftime("%b %d"))
            for i, day in enumerate(days)
            if i % every == 0
        ),
    )
    marks = []
    for version, moment in sorted(report.went_live.items()):
        local = timezone.localtime(moment, shop_zone())
        if local.date() not in index:
            continue
        position = index[local.date()] - 0.5 + _day_fraction(local)
        marks.append(
            format_html(
                '<g class="went-live" data-model-version="{}"><line x1="{}" y1="{}" x2="{}" y2="{}" '
                'stroke="{}" stroke-dasharray="4 3"/><text x="{}" y="{}" font-size="10" fill="{}" '
                'text-anchor="middle">{} live</text><title>{} went live {}</title></g>',
                version,
                _n(x(position)),
                TOP,
                _n(x(position)),
                TOP + plot_h,
                colour_of.get(version, "#333"),
                _n(x(position)),
                TOP - 6,
                colour_of.get(version, "#333"),
                version,
                version,
                local.strftime("%Y-%m-%d %H:%M"),
            )
        )
    variants_of: dict[str, list[str]] = {}
    for version, variant in sorted(report.series):
        variants_of.setdefault(version, []).append(variant)
    series = []
    # Every version is in the legend, also one without a figure in this chart.
    for n, (version, variant) in enumerate(sorted(report.series)):
        line = points.get((version, variant), [])
        colour = colour_of.get(version, "#333")
        dash = DASHES[variants_of[version].index(variant) % len(DASHES)]
        whiskers = (
            format_html_join(
                "",
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-opacity="0.25" '
                'stroke-width="3"/>',
                (
                    (_n(x(i)), _n(y(low)), _n(x(i)), _n(y(high)), colour)
                    for i, _, low, high, _ in line
                ),
            )
            if figure.lift
            else ""
        )
        dots = format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="2.5" fill="{}"><title>{} {}: {}</title></circle>',
            (
                (
                    _n(x(i)),
                    _n(y(e)),
                    colour,
                    _label(version, variant),
                    row.day.isoformat(),
                    _describe(figure, row, e, low, high),
                )
                for i, e, low, high, row in line
            ),
        )
        legend_y = TOP + 10 + 16 * n
        series.append(
            format_html(
                '<g class="series" data-model-version="{}" data-variant="{}">{}<polyline '
                'points="{}" fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{}"/>{}'
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2" '
                'stroke-dasharray="{}"/><text x="{}" y="{}" font-size="11" fill="#333">{}</text></g>',
                version,
                variant,
                whiskers,
                " ".join(f"{x(i):.1f},{y(e):.1f}" for i, e, *_ in line),
                colour,
                dash,
                dots,
                WIDTH - RIGHT + 10,
                legend_y - 4,
                WIDTH - RIGHT + 26,
                legend_y - 4,
                colour,
                dash,
                WIDTH - RIGHT + 30,
                legend_y,
                _label(version, variant),
            )
        )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" '
        'role="img" aria-label="{} per day per model version">'
        '<rect width="100%" height="100%" fill="#fff"/>{}{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        figure.title,
        grid,
        x_labels,
        mark_safe("".join(marks)),  # noqa: S308 - each part was built with format_html
        mark_safe("".join(series)),  # noqa: S308 - each part was built with format_html
    )


def _day_fraction(moment: datetime) -> float:
    """How far into its day `moment` is (0 at midnight)."""
    return (moment.hour * 3600 + moment.minute * 60 + moment.second) / 86_400


def _describe(figure: Figure, row: DayQuality, estimate: float, low: float, high: float) -> str:
    """A point's tooltip: the value, the interval of a lift, the reasons of a fallback share."""
    text = _format(estimate, figure.lift)
    interval = figure.read(row)
    if isinstance(interval, stats.Interval):
        text += f" ({interval.confidence:.0%} CI {_format(low, True)} to {_format(high, True)})"
    if figure.name == "fallback-share" and row.fallback_reasons:
        text += ": " + ", ".join(
            f"{reason} {share:.1%}" for reason, share in row.fallback_reasons.items()
        )
    if figure.name == "ctr":
        text += f" ({row.clicked} of {row.impressions} page views)"
    return text
