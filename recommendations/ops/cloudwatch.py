"""Publishing the recent figures to Amazon CloudWatch with `put_metric_data`.

Runs from a Celery task (beat, off the request path) when `CLOUDWATCH_NAMESPACE` is set; one call
per PUT_BATCH data points. The client follows boto3's credential chain like the endpoint's.
"""

from collections.abc import Iterable
from typing import Any

from ..backends.extras import MissingExtra

try:
    import boto3
    from botocore.config import Config
except ImportError as err:
    raise MissingExtra("CloudWatch publisher", "sagemaker", err) from err


from ..conf import app_settings
from ..models import DailyDrift
from .recent_figures import RecentFigures

PUT_BATCH = 20


def metric_data(figures: RecentFigures) -> list[dict[str, Any]]:
    """CloudWatch data points for `figures` (figures that are unknown are left out)."""
    points: list[dict[str, Any]] = [
        {"MetricName": "WidgetRenders", "Value": figures.renders, "Unit": "Count"},
        {"MetricName": "EventsDropped", "Value": figures.events_dropped, "Unit": "Count"},
        {"MetricName": "EndpointCalls", "Value": figures.endpoint_calls, "Unit": "Count"},
    ]
    for source, count in sorted(figures.by_source.items()):
        points.append(
            {
                "MetricName": "WidgetRenders",
                "Dimensions": [{"Name": "Source", "Value": source}],
                "Value": count,
                "Unit": "Count",
            }
        )
    for reason, count in sorted(figures.fallback_reasons.items()):
        points.append(
            {
                "MetricName": "Fallbacks",
                "Dimensions": [{"Name": "Reason", "Value": reason}],
                "Value": count,
                "Unit": "Count",
            }
        )
    optional = (
        ("FallbackRate", figures.fallback_rate, "None"),
        ("EndpointLatencyP50", figures.endpoint_p50_ms, "Milliseconds"),
        ("EndpointLatencyP99", figures.endpoint_p99_ms, "Milliseconds"),
        ("PrefetchQueueLag", figures.prefetch_lag_seconds, "Seconds"),
    )
    for name, value, unit in optional:
        if value is not None and value != float("inf"):
            points.append({"MetricName": name, "Value": float(value), "Unit": unit})
    return points


# CloudWatch name of each DailyDrift figure; alarms (model.deploy --create-alarms) use these names.
DRIFT_SCORE = "DriftScore"
DIVERGENCES = ("DriftItemPopularity", "DriftHistoryLength")
DRIFT_METRICS = (
    ("item_popularity", "DriftItemPopularity"),
    ("history_length", "DriftHistoryLength"),
    ("unseen_product_share", "UnseenProductShare"),
    ("model_age_days", "ModelAgeDays"),
)


def drift_metric_data(rows: Iterable[DailyDrift]) -> list[dict[str, Any]]:
    """CloudWatch data points of daily drift rows, with a `ModelVersion` dimension.

    Beside each figure, `DriftScore`: the larger of the two divergences, which the deploy tool's
    quality alarm watches (model/aws/deploy/quality_alarms.py).
    """
    points = []
    for row in rows:
        values = {name: getattr(row, field) for field, name in DRIFT_METRICS}
        divergences = [
            value for name, value in values.items() if name in DIVERGENCES and value is not None
        ]
        if divergences:
            values[DRIFT_SCORE] = max(divergences)
        for name, value in values.items():
            if value is not None:
                points.append(
                    {
                        "MetricName": name,
                        "Dimensions": [{"Name": "ModelVersion", "Value": row.model_version}],
                        "Value": float(value),
                        "Unit": "None",
                    }
                )
    return points


# CloudWatch name of each quality figure (`DayQuality.figures()`), with the `ModelVersion` and
# `Variant` dimensions; the deploy tool's lift alarm reads LIFT_VS_HOLDOUT by these names.
LIFT_VS_HOLDOUT = "LiftVsHoldout"
MODEL_VERSION_DIMENSION = "ModelVersion"
VARIANT_DIMENSION = "Variant"
QUALITY_METRICS = (
    ("ctr", "ModelCTR"),
    ("lift_vs_holdout", LIFT_VS_HOLDOUT),
    ("engagement_lift", "EngagementLift"),
    ("coverage", "CatalogueCoverage"),
    ("fallback_share", "FallbackShare"),
    ("stale_share", "StaleItemShare"),
    ("cold_start_share", "ColdStartShare"),
)


def quality_metric_data(figures: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """CloudWatch data points of a day's quality figures per model version and variant.

    `FallbackShare` comes once more per reason, with a `Reason` dimension as well. A figure that
    is not defined that day (None) is left out: no data is no evidence (the alarms say so too).
    """
    points = []
    for row in figures:
        dimensions = [
            {"Name": MODEL_VERSION_DIMENSION, "Value": str(row["model_version"])},
            {"Name": VARIANT_DIMENSION, "Value": str(row["variant"])},
        ]
        values = [(name, dimensions, row.get(field)) for field, name in QUALITY_METRICS]
        values += [
            ("FallbackShare", [*dimensions, {"Name": "Reason", "Value": reason}], share)
            for reason, share in sorted(row.get("fallback_reasons", {}).items())
        ]
        points += [
            {"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": "None"}
            for name, dims, value in values
            if value is not None
        ]
    return points


def publish(figures: RecentFigures) -> int:
    """Send `figures` to CloudWatch in batches; the number of data points sent."""
    return put_points(metric_data(figures))


def put_points(points: list[dict[str, Any]]) -> int:
    """Send data points to CLOUDWATCH_NAMESPACE in batches; the number sent (0 when unset)."""
    namespace = app_settings.CLOUDWATCH_NAMESPACE
    if not namespace:
        return 0
    client = boto3.session.Session(region_name=app_settings.REGION).client(
        "cloudwatch",
        endpoint_url=app_settings.CLOUDWATCH_ENDPOINT_URL or None,
        config=Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard"}),
    )
    for start in range(0, len(points), PUT_BATCH):
        client.put_metric_data(Namespace=namespace, MetricData=points[start : start + PUT_BATCH])
    return len(points)
