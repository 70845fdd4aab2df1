"""Engagement per visit and arm: the shop's `engagement` signal through the event buffer and the
flush, and the report's widget-against-no-widget lift on planted, hand-counted data."""

import logging
import random
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone

from recommendations.models import DailyEngagement, EngagementEvent, Impression, RolledUpDay
from recommendations.reporting import rollups
from recommendations.reporting.engagement import build_engagement_report
from recommendations.signals import engagement
from recommendations.tracking import events
from recommendations.tracking.engagement import arm_of_user
from recommendations.tracking.event_rows import Inserted
from recommendations.tracking.pseudonyms import pseudonym

pytestmark = pytest.mark.django_db

MEASURED = {"TRACKING": True, "CONTROL_SHARE": 0.5, "EVENT_FLUSH_INTERVAL": 60.0}


@pytest.fixture
def measured():
    events.buffer().clear()
    with override_settings(RECOMMENDATIONS=MEASURED):
        yield
    events.buffer().clear()


def flush() -> Inserted:
    """The buffered events into the database, as the record_events task would insert them."""
    return events.write_buffered()


def users(count: int) -> list:
    model = get_user_model()
    return [model.objects.create_user(f"shopper{n}", password="x") for n in range(count)]


def test_the_signal_is_recorded_with_the_visitors_pseudonym_and_arm_through_the_flush(measured):
    shoppers = users(12)
    arms_seen = {arm_of_user(user) for user in shoppers}
    assert arms_seen == {"control", "model"}
    factory = RequestFactory()
    for user in shoppers:
        request = factory.get("/product/x/")
        request.user = user
        engagement.send(sender=None, kind="product_view", request=request)
        engagement.send(sender=None, kind="add_to_cart", user=user)

    assert EngagementEvent.objects.count() == 0  # nothing written on the page
    assert flush().engagements == 24
    rows = {(row.pseudonym, row.arm, row.action) for row in EngagementEvent.objects.all()}
    assert rows == {
        (pseudonym(user.pk), arm_of_user(user), action)
        for user in shoppers
        for action in ("product_view", "add_to_cart")
    }
    assert not EngagementEvent.objects.filter(pseudonym__in=[str(u.pk) for u in shoppers])
    # A flush that runs again inserts nothing twice.
    assert flush().engagements == 0
    assert EngagementEvent.objects.count() == 24


def test_anonymous_visitors_and_unknown_kinds_are_left_out_without_an_error(measured, caplog):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    engagement.send(sender=None, kind="product_view", request=request)
    (user,) = users(1)
    with caplog.at_level(logging.WARNING, logger="recommendations.tracking.engagement"):
        for _ in range(3):
            engagement.send(sender=None, kind="wishlist", user=user)
    assert flush().engagements == 0
    warnings = [r for r in caplog.records if r.name == "recommendations.tracking.engagement"]
    assert len(warnings) == 1  # once per process, not once per page
    assert warnings[0].kind == "wishlist"


def test_nothing_is_recorded_while_tracking_is_off():
    events.buffer().clear()
    (user,) = users(1)
    with override_settings(RECOMMENDATIONS={"TRACKING": False}):
        engagement.send(sender=None, kind="purchase", user=user)
        assert len(events.buffer()) == 0


def impression(user_key: str, arm: str, when) -> None:
    Impression.objects.create(
        request_id=uuid.uuid4().hex,
        pseudonym=user_key,
        arm=arm,
        source="fallback",
        items=[],
        created_at=when,
    )


def event(user_key: str, arm: str, action: str, when) -> None:
    EngagementEvent.objects.create(
        event_id=uuid.uuid4().hex, pseudonym=user_key, arm=arm, action=action, created_at=when
    )


@pytest.fixture
def planted():
    """Two days of visits, counted by hand in the tests below."""
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    for day in (today, yesterday):
        for n in range(5):  # control: 5 visitors x 2 days = 10 visits
            event(f"c{n}", "control", "visit", day)
            event(f"c{n}", "control", "visit", day + timedelta(minutes=5))  # the same visit
        for n in range(6):  # model: 6 x 2 = 12 visits
            impression(f"m{n}", "model", day)
            impression(f"m{n}", "model", day + timedelta(minutes=20))
        for n in range(4):  # holdout: 4 x 2 = 8 visits
            impression(f"h{n}", "holdout", day)
    # Control: product views on 2 visits (one of them twice), an add-to-cart on one.
    event("c0", "control", "product_view", yesterday)
    event("c0", "control", "product_view", yesterday + timedelta(minutes=1))
    event("c1", "control", "product_view", yesterday)
    event("c0", "control", "add_to_cart", yesterday)
    # Widget arms: product views on 8 visits, add-to-cart on 2, a purchase on 1.
    for key in ("m0", "m1", "m2", "m3", "h0", "h1"):
        event(key, "model" if key[0] == "m" else "holdout", "product_view", today)
    for key in ("m0", "m1"):
        event(key, "model", "product_view", yesterday)
    event("m0", "model", "add_to_cart", today)
    event("h0", "holdout", "add_to_cart", today)
    event("m0", "model", "purchase", today)
    # Not counted: a product view on a day without a visit, an anonymous impression, and a
    # visit before the period.
    event("c4", "control", "product_view", today - timedelta(days=3))
    event("m5", "model", "product_view", today - timedelta(days=3))
    impression("", "anonymous", today)
    event("c9", "control", "visit", today - timedelta(days=30))
    return today


def test_the_report_counts_visits_and_engaged_visits_per_arm(planted):
    report = build_engagement_report(days=2, today=planted.date())
    assert set(report.by_arm) == {"control", "model", "holdout"}
    control, model, holdout = (report.by_arm[a] for a in ("control", "model", "holdout"))
    assert (control.visits, model.visits, holdout.visits) == (10, 12, 8)
    assert control.engaged == {"product_view": 2, "add_to_cart": 1, "purchase": 0, "any": 2}
    assert model.engaged == {"product_view": 6, "add_to_cart": 1, "purchase": 1, "any": 6}
    assert holdout.engaged == {"product_view": 2, "add_to_cart": 1, "purchase": 0, "any": 2}
    assert report.widget.visits == 20


def test_the_widget_lift_over_no_widget_matches_a_hand_computation(planted):
    report = build_engagement_report(days=2, today=planted.date())
    lifts = {lift.action: lift for lift in report.lifts}
    views = lifts["product_view"]
    # 8 of 20 widget visits against 2 of 10 control visits: 40% vs 20%, a lift of +100%.
    # Katz interval: se = sqrt((1 - 0.4) / 8 + (1 - 0.2) / 2) = sqrt(0.475) = 0.68920;
    # exp(ln 2 -/+ 1.95996 x 0.68920) - 1 = -48.19% and +672.11%.
    assert (views.widget_rate, views.control_rate) == (0.4, 0.2)
    assert views.lift.estimate == pytest.approx(1.0)
    assert views.lift.low == pytest.approx(-0.48194, abs=1e-5)
    assert views.lift.high == pytest.approx(6.72112, abs=1e-5)
    assert views.difference.estimate == pytest.approx(0.2)
    assert views.verdict == "neither shown nor ruled out"
    # 50% over a 20% rate (20% -> 30%), 95% and power 80%: n = (1.95996 sqrt(2 x 0.25 x 0.75)
    # + 0.84162 sqrt(0.2 x 0.8 + 0.3 x 0.7))^2 / 0.1^2 = 293.2, so 294 visits per arm.
    assert views.visits_needed == 294
    carts = lifts["add_to_cart"]
    assert (carts.widget_rate, carts.control_rate) == (0.1, 0.1)
    assert carts.lift.estimate == pytest.approx(0.0)
    # No purchase in the control arm: no ratio, and no sample size from a zero rate.
    assert lifts["purchase"].lift is None
    assert lifts["purchase"].visits_needed is None
    assert lifts["any"].lift.estimate == pytest.approx(1.0)


def test_the_admin_report_shows_widget_against_no_widget_beside_model_against_fallback(
    planted, admin_client
):
    response = admin_client.get(reverse("admin:recommendations_impression_report"), {"days": 2})
    html = response.content.decode()
    assert response.status_code == 200
    assert "widget vs no widget" in html
    assert "model vs holdout (model vs fallback)" in html
    row = html[html.index('data-action="product_view"') :]
    row = row[: row.index("</tr>")]
    assert "40.00%" in row and "20.00%" in row
    assert "+100.0% (-48.2% to +672.1%)" in row
    assert ">294<" in row
    assert '<tr data-arm="control"><td>control</td><td class="visits">10</td>' in html


def test_without_a_control_arm_the_report_says_what_is_missing(admin_client):
    (user,) = users(1)
    impression(pseudonym(user.pk), "model", timezone.now())
    html = admin_client.get(reverse("admin:recommendations_impression_report")).content.decode()
    assert 'id="engagement-no-comparison"' in html


# --- the visits' daily rollups ------------------------------------------------------------------


def raw_engagement_report(**kwargs):
    """The engagement report from the raw rows alone (no day rolled up)."""
    RolledUpDay.objects.all().delete()
    DailyEngagement.objects.all().delete()
    return build_engagement_report(**kwargs)


@pytest.fixture
def weeks_of_visits(planted):
    """`planted` (today and yesterday) and ten more days of visits and actions, at random."""
    rng = random.Random(3)
    for days_ago in range(2, 12):
        day = planted - timedelta(days=days_ago)
        for n in range(rng.randint(0, 8)):
            arm = rng.choice(["model", "holdout", "control"])
            when = day + timedelta(hours=rng.randint(-11, 11))
            if arm == "control":
                event(f"r{n}", arm, "visit", when)
            else:
                impression(f"r{n}", arm, when)
            for action in ("product_view", "add_to_cart", "purchase"):
                if rng.random() < 0.4:
                    event(f"r{n}", arm, action, when + timedelta(minutes=rng.randint(0, 30)))
    return planted


def test_the_engagement_report_from_rollups_equals_it_from_raw_rows(weeks_of_visits):
    rollups.roll_up(now=weeks_of_visits)
    whole_days = set(RolledUpDay.objects.filter(engagement=True).values_list("day", flat=True))
    # Every day from the oldest event (planted's visit 30 days ago) to yesterday; not today.
    assert whole_days == {weeks_of_visits.date() - timedelta(days=n) for n in range(1, 31)}
    assert not DailyEngagement.objects.filter(day=weeks_of_visits.date()).exists()  # today: raw
    from_rollups = build_engagement_report(days=14, today=weeks_of_visits.date())
    assert from_rollups == raw_engagement_report(days=14, today=weeks_of_visits.date())
    assert from_rollups.widget.visits > 20  # more than the planted two days


def test_past_days_come_from_the_rollups_and_today_from_the_raw_rows(weeks_of_visits):
    rollups.roll_up(now=weeks_of_visits)
    report = build_engagement_report(days=14, today=weeks_of_visits.date())
    # The raw rows of the past days are gone (purged): the report does not change.
    midnight = weeks_of_visits.replace(hour=0)
    EngagementEvent.objects.filter(created_at__lt=midnight).delete()
    Impression.objects.filter(created_at__lt=midnight).delete()
    assert build_engagement_report(days=14, today=weeks_of_visits.date()) == report
    # Today's do count: a new visit today shows at once.
    impression("new-visitor", "model", weeks_of_visits + timedelta(minutes=1))
    after = build_engagement_report(days=14, today=weeks_of_visits.date())
    assert after.by_arm["model"].visits == report.by_arm["model"].visits + 1


def test_a_rerun_counts_no_visit_twice_and_a_late_action_lands_on_its_day(weeks_of_visits):
    rollups.roll_up(now=weeks_of_visits)
    first = list(DailyEngagement.objects.values_list("day", "arm", "action", "visits"))
    rollups.roll_up(now=weeks_of_visits)
    assert list(DailyEngagement.objects.values_list("day", "arm", "action", "visits")) == first

    yesterday = weeks_of_visits - timedelta(days=1)
    before = build_engagement_report(days=2, today=weeks_of_visits.date())
    # m5 visited yesterday but did nothing; the purchase reaches the database late.
    event("m5", "model", "purchase", yesterday + timedelta(minutes=30))
    assert build_engagement_report(days=2, today=weeks_of_visits.date()) == before  # rolled up
    rollups.roll_up(now=weeks_of_visits)  # yesterday is still open to late events
    after = build_engagement_report(days=2, today=weeks_of_visits.date())
    assert (
        after.by_arm["model"].engaged["purchase"] == before.by_arm["model"].engaged["purchase"] + 1
    )
    assert after == raw_engagement_report(days=2, today=weeks_of_visits.date())


def test_days_rolled_up_before_visits_were_are_computed_again(weeks_of_visits):
    rollups.roll_up(now=weeks_of_visits)
    days = RolledUpDay.objects.filter(engagement=True).count()
    expected = build_engagement_report(days=14, today=weeks_of_visits.date())
    # As an installation that rolled up impressions before this release left its days.
    DailyEngagement.objects.all().delete()
    RolledUpDay.objects.update(engagement=False)
    rollups.roll_up(now=weeks_of_visits)
    assert RolledUpDay.objects.filter(engagement=True).count() == days
    assert build_engagement_report(days=14, today=weeks_of_visits.date()) == expected


def test_a_control_arm_alone_is_rolled_up_too():
    yesterday = timezone.now() - timedelta(days=1)
    event("c0", "control", "visit", yesterday)
    event("c0", "control", "product_view", yesterday)
    rollups.roll_up()
    assert list(
        DailyEngagement.objects.values_list("arm", "action", "visits").order_by("action")
    ) == [("control", "any", 1), ("control", "product_view", 1), ("control", "visit", 1)]
