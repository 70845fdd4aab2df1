"""Drift against the training data: the figures, the daily task, the check, /metrics and CloudWatch."""

import logging
import uuid
from datetime import UTC, date, datetime, timedelta

import boto3
import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse

from model.data.interactions import Interactions
from model.training.drift_baseline import build_baseline, write_baseline
from recommendations.checks import check_live_model_drift
from recommendations.drift import daily, figures
from recommendations.drift.baseline import BaselineError, decode, load_baseline
from recommendations.drift.daily import compute_drift
from recommendations.models import DailyDrift, DriftBaseline, Impression
from recommendations.ops import cloudwatch, drift_metrics
from recommendations.reporting.days import day_bounds, shop_day
from recommendations.tasks import compute_drift as compute_drift_task
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.fallback_shop import HandMadeShop

DAY = date(2025, 6, 1)
SETTINGS = {
    "PRODUCT_MODEL": "shop.Product",
    "AVAILABLE_FILTER": {"is_active": True, "stock__gt": 0},
    "CATALOG": "tests.app.shop.catalog.ShopCatalog",
}


def baseline_of(rows, version="v1"):
    return build_baseline(Interactions.from_rows(rows), version)


# --- the figures ----------------------------------------------------------------------------------


def test_identical_distributions_diverge_by_zero():
    assert figures.jensen_shannon([1, 2, 3, 0], [10, 20, 30, 0]) == pytest.approx(0, abs=1e-12)


def test_disjoint_distributions_diverge_by_one():
    assert figures.jensen_shannon([5, 0, 0], [0, 2, 7]) == pytest.approx(1.0)


def test_an_empty_histogram_has_no_divergence():
    assert figures.jensen_shannon([0, 0], [1, 1]) is None


def test_histograms_over_different_bins_are_refused():
    with pytest.raises(ValueError, match="different bins"):
        figures.jensen_shannon([1, 2], [1, 2, 3])


def test_a_catalogue_where_half_the_products_are_new_has_an_unseen_share_of_half():
    baseline = decode(baseline_of([("u", "a", 1, 0), ("u", "b", 1, 0)]))
    assert figures.unseen_share(baseline.knows(["a", "b", "c", "d"])) == 0.5
    assert figures.unseen_share(baseline.knows([])) is None


def test_recommending_only_items_the_model_never_saw_is_the_largest_popularity_drift():
    baseline = decode(baseline_of([("u", "a", 1, 0), ("v", "b", 1, 0), ("v", "a", 1, 0)]))
    bins = baseline.popularity_bins(["x", "y"])
    assert bins.tolist() == [baseline.unseen_bin] * 2
    live = np.bincount(bins, minlength=len(baseline.popularity_shares))
    assert figures.jensen_shannon(live, baseline.popularity_shares) == pytest.approx(1.0)


def test_the_model_is_as_old_as_its_newest_training_event():
    newest = datetime(2025, 5, 1, tzinfo=UTC)
    assert figures.age_days(newest, newest + timedelta(days=3, hours=12)) == 3.5


# --- the baseline in the database -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_baseline_is_stored_once_per_model_version(tmp_path):
    path = write_baseline(baseline_of([("u", "a", 1, 100), ("u", "b", 1, 200)]), tmp_path)
    load_baseline(str(path))
    stored = load_baseline(str(path))
    assert DriftBaseline.objects.count() == 1
    assert (stored.model_version, stored.items) == ("v1", 2)
    assert stored.max_timestamp == datetime.fromtimestamp(200, tz=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read it"), (b"not json", "not a gzip'd JSON"), (b'{"format": 9}', "format 1")],
)
def test_a_bad_baseline_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BaselineError, match=message):
        load_baseline(str(path))
    with pytest.raises(CommandError, match=message):
        call_command("recommendations_drift", "--baseline", str(path), "--load-only")
    assert not DriftBaseline.objects.exists()


# --- the daily task, end to end -------------------------------------------------------------------


@pytest.fixture
def shop(tmp_path):
    """Four products bought by two customers before training, then four new products."""
    shop = HandMadeShop(now=datetime(2025, 5, 30, 12, tzinfo=UTC))
    shop.buy("ann", "a", "b", days_ago=10)
    shop.buy("bob", "c", "d", days_ago=2)
    rows = [
        (
            pseudonym(line.order.user_id),
            str(line.product_id),
            1.0,
            line.order.created_at.timestamp(),
        )
        for line in _order_lines()
    ]
    path = write_baseline(build_baseline(Interactions.from_rows(rows), "v1"), tmp_path)
    for name in ("e", "f", "g", "h"):
        shop.product(name)
    shop.baseline_path = str(path)
    return shop


def _order_lines():
    from tests.app.shop.models import OrderLine

    return OrderLine.objects.select_related("order")


def show(shop, version, viewer, names, when=None):
    when = when or day_bounds(DAY)[0] + timedelta(hours=10)
    Impression.objects.create(
        request_id=uuid.uuid4().hex,
        pseudonym=pseudonym(shop.user(viewer).pk) if viewer else "",
        arm="model",
        source="model",
        model_version=version,
        items=[
            {"item_id": shop.id(n), "position": p, "source": "model"}
            for p, n in enumerate(names, 1)
        ],
        created_at=when,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("bin_batch", [daily.BIN_BATCH, 3])  # 3: counted in several batches
def test_the_daily_task_compares_the_days_model_traffic_with_the_baseline(
    shop, monkeypatch, bin_batch
):
    monkeypatch.setattr(daily, "BIN_BATCH", bin_batch)
    # Each training item shown once, to the two training customers: no drift but the new products.
    show(shop, "v1", "ann", ["a", "b"])
    show(shop, "v1", "bob", ["c", "d"])
    show(shop, "v1", "bob", ["a"], when=day_bounds(DAY)[1] + timedelta(hours=1))  # the next day
    with override_settings(RECOMMENDATIONS={**SETTINGS, "DRIFT_BASELINE": shop.baseline_path}):
        assert compute_drift_task.apply(kwargs={"day": DAY.isoformat()}).result == 1
        compute_drift(DAY)  # a re-run replaces the day's row
    drift = DailyDrift.objects.get()
    assert (drift.day, drift.model_version) == (DAY, "v1")
    assert drift.item_popularity == pytest.approx(0, abs=1e-9)
    assert drift.history_length == pytest.approx(0, abs=1e-9)
    assert drift.unseen_product_share == 0.5
    # Bob's order (the newest training event) was at noon on May 28; the day ends at midnight June 2.
    newest = shop.now - timedelta(days=2)
    assert drift.model_age_days == pytest.approx(
        (day_bounds(DAY)[1] - newest).total_seconds() / 86400
    )
    assert (drift.recommended_items, drift.viewers) == (4, 2)


@pytest.mark.django_db
def test_new_viewers_and_new_items_show_as_drift_and_are_warned_about(shop, caplog):
    show(shop, "v1", "newcomer", ["e", "f"])
    with (
        override_settings(RECOMMENDATIONS={**SETTINGS, "DRIFT_BASELINE": shop.baseline_path}),
        caplog.at_level(logging.WARNING, logger="recommendations.drift.daily"),
    ):
        [drift] = compute_drift(DAY)
    assert drift.item_popularity == pytest.approx(1.0)  # only items the model never saw
    assert drift.history_length == pytest.approx(1.0)  # no training user had an empty history
    warned = {record.figure for record in caplog.records if hasattr(record, "figure")}
    assert {"item_popularity", "history_length", "unseen_product_share"} <= warned


@pytest.mark.django_db
def test_a_model_version_without_a_baseline_is_skipped_with_a_warning(shop, caplog):
    show(shop, "v2", "ann", ["a"])
    with (
        override_settings(RECOMMENDATIONS=SETTINGS),
        caplog.at_level(logging.WARNING, logger="recommendations.drift.daily"),
    ):
        assert compute_drift(DAY) == []
    assert "No drift baseline for model version v2" in caplog.text


@pytest.mark.django_db
def test_the_command_prints_the_days_figures(shop, capsys):
    show(shop, "v1", "ann", ["a", "e"])
    with override_settings(RECOMMENDATIONS=SETTINGS):
        call_command(
            "recommendations_drift", "--baseline", shop.baseline_path, "--day", "2025-06-01"
        )
    out = capsys.readouterr().out
    assert "loaded the baseline of v1: 4 items" in out
    assert "2025-06-01  v1" in out and "0.500" in out


# --- where the figures go -------------------------------------------------------------------------


def a_row(**overrides):
    values = {
        "day": DAY,
        "model_version": "v1",
        "item_popularity": 0.1,
        "history_length": None,
        "unseen_product_share": 0.25,
        "model_age_days": 3.0,
        "recommended_items": 8,
        "viewers": 2,
    }
    return DailyDrift(**{**values, **overrides})


def test_cloudwatch_gets_each_known_figure_with_its_model_version():
    points = cloudwatch.drift_metric_data([a_row()])
    assert {p["MetricName"]: p["Value"] for p in points} == {
        "DriftItemPopularity": 0.1,
        "DriftScore": 0.1,
        "UnseenProductShare": 0.25,
        "ModelAgeDays": 3.0,
    }
    assert {p["Dimensions"][0]["Value"] for p in points} == {"v1"}
    assert {p["Dimensions"][0]["Name"] for p in points} == {"ModelVersion"}


def test_the_deploy_tools_drift_and_age_alarms_watch_what_the_app_publishes():
    from model.aws.deploy.quality_alarms import quality_alarm_calls
    from model.aws.deploy.spec import QualityAlarms

    published = {
        (p["MetricName"], tuple(d["Name"] for d in p["Dimensions"]))
        for p in cloudwatch.drift_metric_data([a_row(history_length=0.3)])
    }
    quality = QualityAlarms(namespace="Shop", model_version="v1")
    alarms = [call.params for call in quality_alarm_calls("shop", "primary", quality, None)]
    watched = {
        (a["MetricName"], tuple(d["Name"] for d in a["Dimensions"]))
        for a in alarms
        if a["MetricName"] != "LiftVsHoldout"  # published with the quality figures: test_quality.py
    }
    assert watched == {("DriftScore", ("ModelVersion",)), ("ModelAgeDays", ("ModelVersion",))}
    assert watched <= published
    score = next(
        p
        for p in cloudwatch.drift_metric_data([a_row(history_length=0.3)])
        if p["MetricName"] == "DriftScore"
    )
    assert score["Value"] == 0.3


@pytest.mark.django_db
def test_the_task_publishes_the_days_figures_to_cloudwatch(shop, moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    namespace = f"Shop/Recommendations/{uuid.uuid4().hex[:8]}"
    show(shop, "v1", "ann", ["a", "e"])
    settings = {
        **SETTINGS,
        "DRIFT_BASELINE": shop.baseline_path,
        "CLOUDWATCH_NAMESPACE": namespace,
        "CLOUDWATCH_ENDPOINT_URL": moto_url,
        "REGION": "eu-west-1",
    }
    with override_settings(RECOMMENDATIONS=settings):
        assert compute_drift_task.apply(kwargs={"day": DAY.isoformat()}).result == 1
    client = boto3.session.Session(region_name="eu-west-1").client(
        "cloudwatch", endpoint_url=moto_url
    )
    metrics = client.list_metrics(Namespace=namespace)["Metrics"]
    assert {m["MetricName"] for m in metrics} == {
        "DriftItemPopularity",
        "DriftHistoryLength",
        "DriftScore",
        "UnseenProductShare",
        "ModelAgeDays",
    }
    assert {
        d["Value"] for m in metrics for d in m["Dimensions"] if d["Name"] == "ModelVersion"
    } == {"v1"}


@pytest.mark.django_db
def test_metrics_show_the_newest_days_figures_per_model_version(client):
    drift_metrics.remember([a_row(), a_row(model_version="v2", model_age_days=1.0)])
    with override_settings(RECOMMENDATIONS={"METRICS_ALLOWED_IPS": ["127.0.0.1"]}):
        text = client.get(reverse("recommendations:metrics")).content.decode()
    assert 'recommendations_model_age_days{model_version="v1"} 3.0' in text
    assert 'recommendations_model_age_days{model_version="v2"} 1.0' in text
    assert 'recommendations_unseen_product_share{model_version="v1"} 0.25' in text
    assert "recommendations_drift_history_length{" not in text


@pytest.mark.django_db
def test_the_admin_report_shows_a_drift_table_per_model_version(client):
    a_row(day=shop_day(), computed_at=datetime.now(UTC)).save()
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    html = client.get(reverse("admin:recommendations_impression_report")).content.decode()
    assert 'data-model-version="v1"' in html
    assert "25.00%" in html and "0.100" in html


# --- the system check -----------------------------------------------------------------------------


def stored_baseline(version, newest):
    DriftBaseline.objects.create(
        model_version=version,
        data=b"",
        source="test",
        min_timestamp=newest - timedelta(days=30),
        max_timestamp=newest,
        items=1,
        loaded_at=newest,
    )
    Impression.objects.create(
        request_id=uuid.uuid4().hex,
        arm="model",
        source="model",
        model_version=version,
        created_at=datetime.now(UTC),
    )


@pytest.mark.django_db
def test_the_check_warns_when_the_live_model_is_older_than_the_setting():
    stored_baseline("old", datetime.now(UTC) - timedelta(days=20))
    with override_settings(RECOMMENDATIONS={"MODEL_MAX_AGE_DAYS": 14}):
        messages = check_live_model_drift(databases=["default"])
        assert [m.id for m in messages] == ["recommendations.W010"]
        assert "MODEL_MAX_AGE_DAYS (14)" in messages[0].msg
    with override_settings(RECOMMENDATIONS={"MODEL_MAX_AGE_DAYS": 30}):
        assert check_live_model_drift(databases=["default"]) == []
    assert check_live_model_drift(databases=None) == []  # a database check: only when asked


@pytest.mark.django_db
def test_the_check_warns_when_the_live_models_newest_drift_is_over_a_threshold():
    stored_baseline("live", datetime.now(UTC))
    a_row(model_version="live", unseen_product_share=0.6, computed_at=datetime.now(UTC)).save()
    with override_settings(RECOMMENDATIONS={"UNSEEN_PRODUCT_SHARE_MAX": 0.5}):
        messages = check_live_model_drift(databases=["default"])
    assert [m.id for m in messages] == ["recommendations.W011"]
    assert "unseen_product_share 0.600 > UNSEEN_PRODUCT_SHARE_MAX 0.5" in messages[0].msg
