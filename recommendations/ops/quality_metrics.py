"""The newest day's quality figures per model version and variant, for /metrics.

The daily `compute_quality` task leaves them in the shared cache (`remember`), and a scrape reads
them with one cache read, as the drift figures (drift_metrics.py): no database query per scrape.
After a cache flush the gauges are missing until the next day's task; the figures themselves
come from the rollups, in the admin report's "Quality over time".
"""

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..cache.access import get_cache

QUALITY_KEY = "recommendations:metrics:quality"
# Kept past the next daily run, so the gauges do not blink out while it runs.
QUALITY_TIMEOUT = 3 * 24 * 3600
LABELS = ["model_version", "variant"]

# (figure, Prometheus name, help): the same figures CloudWatch gets (ops/cloudwatch.py).
GAUGES = (
    ("ctr", "recommendations_quality_ctr", "Share of the version's page views with a click"),
    (
        "lift_vs_holdout",
        "recommendations_quality_lift_vs_holdout",
        "The version's CTR over the holdout (fallback) arm's, minus 1",
    ),
    (
        "engagement_lift",
        "recommendations_quality_engagement_lift",
        "Engaged visits of the arms it served over the control (no widget) arm's, minus 1",
    ),
    (
        "coverage",
        "recommendations_quality_coverage",
        "Distinct items the version showed over the available products",
    ),
    (
        "fallback_share",
        "recommendations_quality_fallback_share",
        "Page views of the arms it served that the fallback served entirely",
    ),
    (
        "stale_share",
        "recommendations_quality_stale_share",
        "The version's items the availability filter dropped over those it looked at",
    ),
    (
        "cold_start_share",
        "recommendations_quality_cold_start_share",
        "Viewers the version answered with its popularity prior (unknown to it)",
    ),
)
REASONS_GAUGE = "recommendations_quality_fallback_reason_share"


def remember(figures: Iterable[dict[str, Any]]) -> None:
    """Keep a day's figures (`DayQuality.figures()` of each version and variant) for /metrics."""
    get_cache().set(QUALITY_KEY, list(figures), QUALITY_TIMEOUT)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class QualityCollector(Collector):
    """The newest day's quality figures, labelled with the model version and the variant."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stored = get_cache().get(QUALITY_KEY)  # an unreachable cache reads as no figures
        rows = [row for row in stored if isinstance(row, dict)] if isinstance(stored, list) else []
        for field, name, documentation in GAUGES:
            gauge = GaugeMetricFamily(name, f"{documentation}, newest day", labels=LABELS)
            for row in rows:
                if _number(row.get(field)):
                    gauge.add_metric(_labels(row), float(row[field]))
            yield gauge
        reasons = GaugeMetricFamily(
            REASONS_GAUGE,
            "Page views of the arms it served that the fallback served for this reason, newest day",
            labels=[*LABELS, "reason"],
        )
        for row in rows:
            by_reason = row.get("fallback_reasons")
            for reason, share in by_reason.items() if isinstance(by_reason, dict) else ():
                if _number(share):
                    reasons.add_metric([*_labels(row), str(reason)], float(share))
        yield reasons


def _labels(row: dict[str, Any]) -> list[str]:
    return [str(row.get("model_version", "")), str(row.get("variant", ""))]


quality_collector = QualityCollector()
