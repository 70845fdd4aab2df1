"""manage.py simulate_week: a short changing week against a real model endpoint, with the drift
figures rising as the catalogue changes and the model-age alarm firing; and the alarm judgement
(model/aws/deploy/alarm_evaluation.py) it uses."""

import itertools
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from demo_shop.catalog.models import Product
from demo_shop.orders.models import OrderLine
from model.aws.deploy.alarm_evaluation import ALARM, INSUFFICIENT_DATA, OK, alarm_state
from model.data.interactions import Interactions
from model.training.drift_baseline import build_baseline, write_baseline
from recommendations.models import DailyDrift, Impression
from recommendations.tracking import events
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.model_server import running_model_server

# --- how CloudWatch would judge an alarm ---------------------------------------------------------


def test_an_alarm_fires_when_enough_of_its_last_periods_breach():
    lift = {
        "Threshold": 0.0,
        "ComparisonOperator": "LessThanThreshold",
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "TreatMissingData": "notBreaching",
    }
    assert alarm_state(lift, [-0.1, -0.2]) == OK  # two days before the first: no breach yet
    assert alarm_state(lift, [-0.1, -0.2, -0.3]) == ALARM
    assert alarm_state(lift, [-0.1, None, -0.3]) == OK  # a day without a figure is no evidence
    assert alarm_state(lift, [-0.1, -0.2, -0.3, 0.1]) == OK  # only the last three count
    assert alarm_state({**lift, "DatapointsToAlarm": 2}, [0.1, -0.2, -0.3]) == ALARM


def test_a_one_day_alarm_follows_the_days_value_and_missing_data_as_told():
    age = {"Threshold": 14.0, "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1}
    assert alarm_state(age, [13.0, 14.0]) == OK  # not greater than the threshold
    assert alarm_state(age, [13.0, 14.5]) == ALARM
    assert alarm_state(age, []) == INSUFFICIENT_DATA
    assert alarm_state({**age, "TreatMissingData": "breaching"}, [None]) == ALARM


# --- the week, end to end --------------------------------------------------------------------------

HISTORY_ENDS_DAYS_AGO = 15
MAX_AGE_DAYS = 13


@pytest.fixture
def stale_demo(tmp_path):
    """A small demo whose orders end 15 days ago, a model trained on them, served, with its
    drift baseline: a model nobody retrained for 15 days."""
    call_command(
        "seed_demo",
        products=60,
        categories=4,
        customers=30,
        lines=900,
        seed=5,
        topic_size=10,
        history_ends_days_ago=HISTORY_ENDS_DAYS_AGO,
        force=True,
        verbosity=0,
    )
    call_command("recommendations_refresh_fallback", verbosity=0, stdout=StringIO())
    rows = [
        (
            pseudonym(line.order.user_id),
            str(line.product_id),
            1.0,
            line.order.created_at.timestamp(),
        )
        for line in OrderLine.objects.select_related("order")
    ]
    interactions = Interactions.from_rows(rows)
    events.buffer().clear()
    with running_model_server(tmp_path, interactions) as server:
        baseline = write_baseline(build_baseline(interactions, server.model_version), tmp_path)
        measured = {
            **server.recommendations_settings(),
            "CATALOG": "demo_shop.catalog.recommendations.DemoCatalog",
            "TRACKING": True,
            "HOLDOUT_SHARE": 0.3,
            "CONTROL_SHARE": 0.2,
            "BUDGET_MS": 2000,  # a shared machine: the model answers, not the fallback
        }
        with override_settings(RECOMMENDATIONS=measured):
            yield baseline


@pytest.mark.integration
@pytest.mark.django_db
def test_a_changing_week_shows_drift_rising_and_the_age_alarm_firing(stale_demo):
    out = StringIO()
    call_command(
        "simulate_week",
        "--days",
        "3",
        "--visits-per-day",
        "40",
        "--new-products-per-day",
        "10",
        "--drop-day",
        "2",
        "--max-age-days",
        str(MAX_AGE_DAYS),
        "--baseline",
        str(stale_demo),
        "--force",
        stdout=out,
    )
    output = out.getvalue()
    rows = list(DailyDrift.objects.order_by("day"))

    assert len(rows) == 3 and len({row.model_version for row in rows}) == 1
    assert Impression.objects.filter(source="model").exists()
    # New products every day: the share of products the model never saw rises day by day.
    unseen = [row.unseen_product_share for row in rows]
    assert 0 < unseen[0] < unseen[1] < unseen[2]
    # The model grows a day older each day; the age alarm is quiet on day 1 and fires by day 3.
    ages = [row.model_age_days for row in rows]
    assert ages[0] <= MAX_AGE_DAYS < ages[2]
    assert [b - a for a, b in itertools.pairwise(ages)] == pytest.approx([1.0, 1.0])
    days = output.split("\nday ")[1:]
    assert len(days) == 3
    assert "quality-model-age OK" in days[0] and "W010" not in days[0]
    assert "quality-model-age ALARM" in days[2] and "W010 rule" in days[2]
    assert "off sale" in days[1]
    assert re.search(r"CTR by arm: .*model \d+\.\d\d%", days[0])
    # Each day's quality figures come from the rollups, as compute_quality publishes them, and
    # the lift alarm is judged on the published LiftVsHoldout.
    assert all(re.search(r"quality of \S+: CTR \d+\.\d\d%, LiftVsHoldout ", day) for day in days)
    assert all("quality-lift-vs-holdout " in day for day in days)
    assert "recommendations.W010" in output  # the real check, at the week's end


@pytest.mark.django_db
def test_with_debug_off_the_week_refuses_to_change_the_catalogue():
    products = Product.objects.count()
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("simulate_week", stdout=StringIO())
    assert Product.objects.count() == products
