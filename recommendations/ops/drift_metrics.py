"""The newest daily drift figures per model version, for /metrics.

The daily task leaves them in the shared cache (`remember`), and a scrape reads them from there
with one cache read, like the other shared figures (ops/metrics.py): no database query per
scrape. After a cache flush the gauges are missing until the next day's task; the figures
themselves stay in the database (DailyDrift) and in the admin report.
"""

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..cache.access import get_cache

DRIFT_KEY = "recommendations:metrics:drift"
# Kept past the next daily run, so the gauges do not blink out while it runs.
DRIFT_TIMEOUT = 3 * 24 * 3600

# (DailyDrift field, Prometheus name, help): the same figures CloudWatch gets (ops/cloudwatch.py).
GAUGES = (
    (
        "item_popularity",
        "recommendations_drift_item_popularity",
        "Jensen-Shannon divergence of the recommended items' training popularity, newest day",
    ),
    (
        "history_length",
        "recommendations_drift_history_length",
        "Jensen-Shannon divergence of the viewers' history lengths from the training users', newest day",
    ),
    (
        "unseen_product_share",
        "recommendations_unseen_product_share",
        "Share of the available products the model never saw, newest day",
    ),
    (
        "model_age_days",
        "recommendations_model_age_days",
        "Days from the model's newest training event to the end of the newest day",
    ),
)


def remember(rows: Iterable[Any]) -> None:
    """Keep a day's drift rows (DailyDrift) as the figures /metrics shows."""
    figures = [
        {"model_version": row.model_version, **{field: getattr(row, field) for field, *_ in GAUGES}}
        for row in rows
    ]
    get_cache().set(DRIFT_KEY, figures, DRIFT_TIMEOUT)


class DriftCollector(Collector):
    """The newest day's drift figures, labelled with the model version."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = get_cache().get(DRIFT_KEY)  # an unreachable cache reads as no figures
        rows = (
            [row for row in figures if isinstance(row, dict)] if isinstance(figures, list) else []
        )
        for field, name, documentation in GAUGES:
            gauge = GaugeMetricFamily(name, documentation, labels=["model_version"])
            for row in rows:
                value = row.get(field)
                if isinstance(value, int | float):
                    gauge.add_metric([str(row.get("model_version", ""))], float(value))
            yield gauge


drift_collector = DriftCollector()
