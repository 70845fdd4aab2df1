"""The quality figures per day, model version and variant (reporting/quality.py), computed from
rollups that the real rollup code made of raw impressions, clicks and visits counted by hand."""

import uuid
from datetime import timedelta

import boto3
import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from recommendations.models import DailyModelAnswers, Impression, RolledUpDay
from recommendations.ops import cloudwatch, quality_metrics
from recommendations.reporting import rollups, stats
from recommendations.reporting.days import shop_day
from recommendations.reporting.quality import build_quality
from recommendations.tasks import compute_quality
from tests.support.quality_data import act, people, serve
from tests.support.shop_data import NUM_ITEMS, make_shop

pytestmark = pytest.mark.django_db


def noon(days_ago: int):
    local = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    return local - timedelta(days=days_ago)


@pytest.fixture
def yesterday():
    """Yesterday, counted by hand in the tests below; v1 also served the day before."""
    make_shop()  # NUM_ITEMS available products
    when = noon(1)
    # v1 in the model arm: ten page views of its items, four clicked, two viewers it did not
    # know; half showed items 1-8, half 5-12 (twelve distinct); the filter looked at ten items
    # each time and dropped one in five of the page views.
    viewers = people("u", 10)
    serve(when, viewers[:5], arm="model", source="model", version="v1", variant="AllTraffic",
          clicked=4, cold=2, checked=10, dropped=1)  # fmt: skip
    serve(when, viewers[5:], arm="model", source="model", version="v1", variant="AllTraffic",
          items=range(5, 13), checked=10)  # fmt: skip
    # The model arm's fallbacks: two timeouts and a wholly stale answer of v1 (all items dropped).
    serve(when, people("f", 2), arm="model", source="fallback", reason="timeout")
    serve(when, ["s0"], arm="model", source="fallback", version="v1", variant="AllTraffic",
          reason="unknown_items", checked=3, dropped=3)  # fmt: skip
    # v2 as the second variant: four page views, one clicked, no fallback.
    serve(when, people("w", 4), arm="variant", source="model", version="v2", variant="challenger",
          clicked=1, items=range(20, 24), checked=8)  # fmt: skip
    # The holdout: twenty page views, four clicked.
    serve(when, people("h", 20), arm="holdout", source="fallback", reason="holdout", clicked=4)
    # Engagement: six of the model arm's thirteen visitors viewed a product; two of ten in control.
    act(when, people("c", 10), arm="control", action="visit")
    act(when, viewers[:6] + people("c", 2), arm="x", action="product_view")
    # The day before: v1 served one page view at 09:00.
    serve(noon(2) - timedelta(hours=3), ["u0"], arm="model", source="model", version="v1",
          variant="AllTraffic", checked=8)  # fmt: skip
    rollups.roll_up()
    return shop_day(when)


def figures(report, version, variant, day):
    return next(row for row in report.series[version, variant] if row.day == day)


def test_every_figure_of_a_version_comes_from_the_rollups(yesterday):
    report = build_quality(yesterday - timedelta(days=6), yesterday)
    v1 = figures(report, "v1", "AllTraffic", yesterday)

    assert (v1.impressions, v1.clicked, v1.ctr) == (10, 4, 0.4)
    assert v1.lift_vs_holdout.estimate == pytest.approx(0.4 / 0.2 - 1)
    assert v1.lift_vs_holdout == stats.lift_interval(4, 10, 4, 20)
    assert v1.lift_vs_holdout.low < v1.lift_vs_holdout.estimate < v1.lift_vs_holdout.high
    assert v1.coverage == pytest.approx(12 / NUM_ITEMS)
    assert v1.stale_share == pytest.approx((5 * 1 + 3) / (10 * 10 + 3))
    assert v1.cold_start_share == pytest.approx(2 / 11)  # u0..u9 and s0; u0, u1 cold
    # 13 page views in the model arm, three served wholly by the fallback, each for a reason.
    assert v1.fallback_share == pytest.approx(3 / 13)
    assert v1.fallback_reasons == pytest.approx({"timeout": 2 / 13, "unknown_items": 1 / 13})
    assert v1.engagement_lift.estimate == pytest.approx((6 / 13) / (2 / 10) - 1)


def test_a_version_in_another_arm_gets_that_arms_figures(yesterday):
    v2 = figures(build_quality(yesterday, yesterday), "v2", "challenger", yesterday)

    assert (v2.impressions, v2.clicked) == (4, 1)
    assert v2.lift_vs_holdout == stats.lift_interval(1, 4, 4, 20)
    assert (v2.fallback_share, v2.fallback_reasons, v2.stale_share) == (0.0, {}, 0.0)
    assert v2.coverage == pytest.approx(4 / NUM_ITEMS)
    assert v2.engagement_lift is None  # none of its four visitors did anything


def test_a_version_went_live_at_its_first_impression_even_before_the_window(yesterday):
    report = build_quality(yesterday, yesterday)
    first = {
        version: Impression.objects.filter(model_version=version).earliest("created_at").created_at
        for version in ("v1", "v2")
    }

    assert report.went_live == first
    assert first["v1"] < first["v2"] - timedelta(days=1)
    assert [row.day for row in report.series["v1", "AllTraffic"]] == [yesterday]
    assert {(row.model_version, row.variant) for row in report.newest()} == {
        ("v1", "AllTraffic"),
        ("v2", "challenger"),
    }


def test_a_rerun_of_the_rollups_adds_nothing_twice(yesterday):
    before = build_quality(yesterday - timedelta(days=3), yesterday)
    rows = DailyModelAnswers.objects.count()

    rollups.roll_up()
    for day in (yesterday, yesterday - timedelta(days=1)):
        rollups.roll_up_day(day)

    assert DailyModelAnswers.objects.count() == rows == 3
    assert build_quality(yesterday - timedelta(days=3), yesterday) == before


def test_the_catalogue_a_day_is_measured_against_is_the_one_while_it_ran(yesterday):
    RolledUpDay.objects.filter(day=yesterday).update(available_items=24)
    from tests.app.shop.models import Product

    Product.objects.filter(pk__gt=6).update(stock=0)  # after the day ended
    rollups.roll_up_day(yesterday)

    v1 = figures(build_quality(yesterday, yesterday), "v1", "AllTraffic", yesterday)
    assert v1.coverage == pytest.approx(12 / 24)


def test_only_whole_days_count_and_the_queries_are_bounded(
    yesterday, django_assert_max_num_queries
):
    today = shop_day()
    serve(timezone.now(), ["u0"], arm="model", source="model", version="v3", checked=8)
    rollups.roll_up()  # today is rolled up so far, not whole

    with django_assert_max_num_queries(5):
        report = build_quality(yesterday - timedelta(days=30), today)

    assert today not in report.days and yesterday in report.days
    assert ("v3", "") not in report.series


def test_no_rollups_no_figures():
    report = build_quality(shop_day() - timedelta(days=13), shop_day())
    assert (report.days, report.series, report.went_live, report.newest()) == ([], {}, {}, [])


def test_the_admin_report_charts_each_figure_with_the_versions_went_live_marks(
    yesterday, admin_client
):
    response = admin_client.get("/admin/recommendations/impression/report/")

    page = response.content.decode()
    assert page.count('<figure class="quality-chart"') == 7
    # v1 went live the day before yesterday, v2 yesterday: both inside the 14 days.
    assert page.count('<g class="went-live" data-model-version="v1">') == 7
    assert page.count('<g class="went-live" data-model-version="v2">') == 7
    assert page.count('<g class="series" data-model-version="v2" data-variant="challenger">') == 7
    row = page.split('<tr data-model-version="v1" data-variant="AllTraffic">')[1].split("</tr>")[0]
    assert "(timeout 15.38%, unknown_items 7.69%)" in row


def test_without_figures_the_report_says_where_they_come_from(admin_client):
    response = admin_client.get("/admin/recommendations/impression/report/")
    assert b'id="quality-none"' in response.content


# --- /metrics and CloudWatch ----------------------------------------------------------------------


def test_the_deploy_tools_lift_alarm_watches_what_the_app_publishes(yesterday):
    from model.aws.deploy import quality_alarms
    from model.aws.deploy.spec import QualityAlarms

    # recommendations/ may not import model/: the names are spelled twice and must agree.
    assert cloudwatch.LIFT_VS_HOLDOUT == quality_alarms.LIFT_VS_HOLDOUT
    assert cloudwatch.MODEL_VERSION_DIMENSION == quality_alarms.MODEL_VERSION_DIMENSION
    assert cloudwatch.VARIANT_DIMENSION == quality_alarms.VARIANT_DIMENSION
    report = build_quality(yesterday, yesterday)
    points = cloudwatch.quality_metric_data(row.figures() for row in report.newest())
    published = {(p["MetricName"], tuple(d["Name"] for d in p["Dimensions"])) for p in points}
    calls = quality_alarms.quality_alarm_calls(
        "shop", "AllTraffic", QualityAlarms(namespace="Shop", model_version="v1"), None
    )
    lift = next(c.params for c in calls if c.params["MetricName"] == "LiftVsHoldout")
    assert (lift["MetricName"], tuple(d["Name"] for d in lift["Dimensions"])) in published
    v1_lift = next(
        p
        for p in points
        if p["MetricName"] == "LiftVsHoldout"
        and {d["Value"] for d in p["Dimensions"]} == {d["Value"] for d in lift["Dimensions"]}
    )
    assert v1_lift["Value"] == pytest.approx(1.0)


def test_a_figure_not_defined_that_day_is_not_published(yesterday):
    report = build_quality(yesterday, yesterday)
    v2 = report.series["v2", "challenger"][-1].figures()
    names = [p["MetricName"] for p in cloudwatch.quality_metric_data([v2])]
    assert "EngagementLift" not in names and "LiftVsHoldout" in names
    reasons = [
        p for p in cloudwatch.quality_metric_data([report.series["v1", "AllTraffic"][-1].figures()])
        if any(d["Name"] == "Reason" for d in p["Dimensions"])
    ]  # fmt: skip
    assert {(p["Dimensions"][2]["Value"], round(p["Value"], 4)) for p in reasons} == {
        ("timeout", round(2 / 13, 4)),
        ("unknown_items", round(1 / 13, 4)),
    }


def test_the_daily_task_publishes_to_cloudwatch_and_leaves_the_figures_for_metrics(
    yesterday, moto_url, monkeypatch, client
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    namespace = f"Shop/Recommendations/{uuid.uuid4().hex[:8]}"
    settings = {
        "CLOUDWATCH_NAMESPACE": namespace,
        "CLOUDWATCH_ENDPOINT_URL": moto_url,
        "REGION": "eu-west-1",
        "METRICS_ALLOWED_IPS": ["127.0.0.1"],
    }
    with override_settings(RECOMMENDATIONS=settings):
        assert compute_quality.apply().result == 2  # yesterday: v1 and v2
        text = client.get(reverse("recommendations:metrics")).content.decode()

    cw = boto3.session.Session(region_name="eu-west-1").client("cloudwatch", endpoint_url=moto_url)
    metrics = cw.list_metrics(Namespace=namespace, MetricName="LiftVsHoldout")["Metrics"]
    assert {tuple((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in metrics} == {
        (("ModelVersion", "v1"), ("Variant", "AllTraffic")),
        (("ModelVersion", "v2"), ("Variant", "challenger")),
    }
    labels = 'model_version="v1",variant="AllTraffic"'
    assert f"recommendations_quality_ctr{{{labels}}} 0.4" in text
    assert f"recommendations_quality_lift_vs_holdout{{{labels}}} 1.0" in text
    reason = 'model_version="v1",reason="timeout",variant="AllTraffic"'  # labels sorted by name
    assert f"recommendations_quality_fallback_reason_share{{{reason}}} {2 / 13}" in text
    assert 'recommendations_quality_engagement_lift{model_version="v2"' not in text


def test_a_recomputed_old_day_leaves_metrics_alone(yesterday, client):
    quality_metrics.remember([{"model_version": "v9", "variant": "", "ctr": 0.5}])
    compute_quality.apply(kwargs={"day": yesterday.isoformat()})
    with override_settings(RECOMMENDATIONS={"METRICS_ALLOWED_IPS": ["127.0.0.1"]}):
        text = client.get(reverse("recommendations:metrics")).content.decode()
    assert 'recommendations_quality_ctr{model_version="v9",variant=""} 0.5' in text
    assert 'model_version="v1"' not in text
