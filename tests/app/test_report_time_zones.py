"""The report's days are the shop's (settings.TIME_ZONE), whatever zone a user's request activates:
the figures, the days and the rollups are the same under every active zone."""

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from recommendations.models import DailyRollup, EngagementEvent, Impression, RolledUpDay
from recommendations.reporting import rollups
from recommendations.reporting.engagement import build_engagement_report
from recommendations.reporting.report import build_report

pytestmark = pytest.mark.django_db

SHOP_ZONE = "Europe/Berlin"
# A user's zone, as Django's per-user time zone middleware activates it: behind, far ahead, far
# behind the shop's.
USER_ZONES = ["America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
DAYS = 10


@pytest.fixture
def shop_in_berlin(settings):
    settings.TIME_ZONE = SHOP_ZONE


@pytest.fixture
def hourly_impressions(shop_in_berlin):
    """One impression and one control visit each hour of the DAYS shop days before today; the
    shop's days."""
    zone = ZoneInfo(SHOP_ZONE)
    today = timezone.localdate(timezone=zone)
    days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
    for day in days:
        for hour in range(24):
            when = datetime.combine(day, time(hour, 30), tzinfo=zone)
            Impression.objects.create(
                request_id=uuid.uuid4().hex, pseudonym="regular", arm="model", source="model",
                items=[{"item_id": "1", "position": 1, "source": "model"}], created_at=when,
            )  # fmt: skip
            EngagementEvent.objects.create(
                event_id=uuid.uuid4().hex, pseudonym="control-regular", arm="control",
                action="visit", created_at=when,
            )  # fmt: skip
    return days


def per_day(report) -> dict:
    return {day: counts.impressions for day, counts in report.daily_by_arm["model"].items()}


@pytest.mark.parametrize("user_zone", USER_ZONES)
def test_the_report_from_raw_rows_counts_the_shops_days_under_a_users_zone(
    hourly_impressions, user_zone
):
    with timezone.override(ZoneInfo(user_zone)):
        report = build_report(days=14)
    assert report.end == timezone.localdate(timezone=ZoneInfo(SHOP_ZONE))
    assert report.totals.impressions == DAYS * 24
    assert per_day(report) == dict.fromkeys(hourly_impressions, 24)


@pytest.mark.parametrize("user_zone", USER_ZONES)
def test_the_report_from_rollups_counts_each_impression_once_under_a_users_zone(
    hourly_impressions, user_zone
):
    rollups.roll_up()
    with timezone.override(ZoneInfo(user_zone)):
        report = build_report(days=14)
    assert report.totals.impressions == DAYS * 24
    assert per_day(report) == dict.fromkeys(hourly_impressions, 24)


@pytest.mark.parametrize("user_zone", USER_ZONES)
def test_rollups_computed_under_a_users_zone_cut_the_shops_days(hourly_impressions, user_zone):
    with timezone.override(ZoneInfo(user_zone)):
        rollups.roll_up()
    assert dict(DailyRollup.objects.values_list("day", "impressions")) == dict.fromkeys(
        hourly_impressions, 24
    )
    assert set(hourly_impressions) <= set(
        RolledUpDay.objects.filter(engagement=True).values_list("day", flat=True)
    )
    assert build_report(days=14).totals.impressions == DAYS * 24


@pytest.mark.parametrize("user_zone", USER_ZONES)
@pytest.mark.parametrize("rolled_up", [False, True])
def test_a_visit_is_a_shop_day_under_a_users_zone(hourly_impressions, user_zone, rolled_up):
    if rolled_up:
        with timezone.override(ZoneInfo(user_zone)):
            rollups.roll_up()
    with timezone.override(ZoneInfo(user_zone)):
        report = build_engagement_report(days=14)
    # One visitor per arm, every hour of DAYS shop days: DAYS visits each.
    assert report.by_arm["model"].visits == DAYS
    assert report.by_arm["control"].visits == DAYS
