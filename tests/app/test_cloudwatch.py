"""CloudWatch publishing, against a real AWS-compatible server on loopback (moto's server mode)."""

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from django.test import override_settings
from django.utils import timezone

from recommendations.models import Impression
from recommendations.ops import latency_window
from recommendations.ops.recent_figures import recent_figures
from recommendations.tasks import publish_cloudwatch_metrics

pytestmark = pytest.mark.django_db


def impressions(sources_and_reasons: list[tuple[str, str]], arm: str = "model") -> None:
    now = timezone.now()
    Impression.objects.bulk_create(
        Impression(
            request_id=uuid.uuid4().hex,
            pseudonym="p",
            arm=arm,
            source=source,
            fallback_reason=reason,
            created_at=now - timedelta(seconds=30),
        )
        for source, reason in sources_and_reasons
    )


def test_recent_figures_count_sources_reasons_and_latency():
    impressions([("model", "")] * 6 + [("fallback", "timeout")] * 3 + [("mixed", "too_few_items")])
    impressions([("fallback", "holdout")] * 5, arm="holdout")  # not counted in the fallback rate
    Impression.objects.create(
        request_id="old", arm="model", source="fallback", fallback_reason="timeout",
        created_at=timezone.now() - timedelta(hours=3),
    )  # fmt: skip
    for _ in range(99):
        latency_window.record(20)
    latency_window.record(900)
    figures = recent_figures(3600)
    assert figures.renders == 15
    assert figures.by_source == {"model": 6, "fallback": 8, "mixed": 1}
    assert figures.fallback_reasons == {"timeout": 3, "too_few_items": 1, "holdout": 5}
    assert figures.fallback_rate == pytest.approx(0.4)
    assert figures.endpoint_p50_ms == 25
    assert figures.endpoint_p99_ms == 25
    assert figures.endpoint_calls == 100


def test_the_task_publishes_the_figures_to_cloudwatch(moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    namespace = f"Shop/Recommendations/{uuid.uuid4().hex[:8]}"
    impressions([("model", "")] * 3 + [("fallback", "throttled")])
    with override_settings(
        RECOMMENDATIONS={
            "CLOUDWATCH_NAMESPACE": namespace,
            "CLOUDWATCH_ENDPOINT_URL": moto_url,
            "REGION": "eu-west-1",
        }
    ):
        sent = publish_cloudwatch_metrics.apply().result
    assert sent >= 5
    cloudwatch = boto3.session.Session(region_name="eu-west-1").client(
        "cloudwatch", endpoint_url=moto_url
    )
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=namespace)["Metrics"]}
    assert {"WidgetRenders", "Fallbacks", "FallbackRate", "EventsDropped"} <= names
    stats = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="FallbackRate",
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=5),
        Period=3600,
        Statistics=["Maximum"],
    )
    assert stats["Datapoints"][0]["Maximum"] == pytest.approx(0.25)


def test_without_a_namespace_nothing_is_sent():
    with override_settings(RECOMMENDATIONS={"CLOUDWATCH_NAMESPACE": None}):
        assert publish_cloudwatch_metrics.apply().result == 0
