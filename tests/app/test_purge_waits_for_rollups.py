"""The purge waits for the rollups: no raw row goes before the rollup that counts it is final, so
the report over any window counts every impression, whether the rollup or the purge ran first."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from recommendations.export import retention
from recommendations.models import Click, EngagementEvent, Impression, RolledUpDay
from recommendations.reporting import rollups
from recommendations.reporting.report import build_report
from recommendations.tasks import purge_tracking, roll_up_tracking

pytestmark = pytest.mark.django_db

NOW = timezone.now()
PER_DAY = 24


@pytest.fixture
def retention_14_days(settings):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "TRACKING_RETENTION_DAYS": 14,
        "TRACKING_PURGE_PAUSE": 0,
        "EXPORT_DESTINATION": "",
    }


def days_of_impressions(days: int, now=NOW) -> None:
    """PER_DAY impressions on each of the `days` days up to `now`, with a click and a visit each."""
    for days_ago in range(days):
        for n in range(PER_DAY):
            when = now - timedelta(days=days_ago, minutes=30 * n)
            request_id = uuid.uuid4().hex
            Impression.objects.create(
                request_id=request_id, pseudonym=f"p{n}", arm="model", source="model",
                items=[{"item_id": "1", "position": 1, "source": "model"}], created_at=when,
            )  # fmt: skip
            Click.objects.create(
                click_id=uuid.uuid4().hex, impression_request_id=request_id, item_id="1",
                position=1, arm="model", source="model", created_at=when + timedelta(seconds=5),
            )  # fmt: skip
            EngagementEvent.objects.create(
                event_id=uuid.uuid4().hex, pseudonym=f"c{n}", arm="control", action="visit",
                created_at=when,
            )  # fmt: skip


def oldest_day(model):
    """The shop's day of the oldest row of `model`."""
    oldest = model.objects.order_by("created_at").values_list("created_at", flat=True).first()
    return timezone.localdate(oldest, timezone.get_default_timezone())


def test_a_purge_before_any_rollup_deletes_nothing_and_the_report_keeps_every_impression(
    retention_14_days,
):
    days_of_impressions(20)
    assert purge_tracking.apply().get() == 0
    roll_up_tracking.apply().get()
    # Every day is counted, the ones already older than the retention too.
    assert build_report(days=21).totals.impressions == 20 * PER_DAY
    # Now the rollups are final, the old rows go, and the report does not change.
    assert purge_tracking.apply().get() > 0
    assert Impression.objects.filter(created_at__lt=NOW - timedelta(days=14)).count() == 0
    assert build_report(days=21).totals.impressions == 20 * PER_DAY
    assert build_report(days=21).totals.clicks == 20 * PER_DAY


def test_the_purge_stops_at_the_oldest_day_without_a_rollup(retention_14_days):
    days_of_impressions(20)
    rollups.roll_up(now=NOW)
    gap = timezone.localdate(NOW - timedelta(days=17), timezone.get_default_timezone())
    RolledUpDay.objects.filter(day=gap).delete()
    result = retention.purge_expired(now=NOW)
    assert (result.impressions, result.clicks, result.engagement_events) != (0, 0, 0)
    for model in (Impression, Click, EngagementEvent):
        # The gap's day and every later one are kept, though older than the retention.
        assert oldest_day(model) == gap, model
    assert build_report(days=21).totals.impressions == 20 * PER_DAY


def test_engagement_events_and_impressions_wait_for_the_visits_rollup(retention_14_days):
    days_of_impressions(20)
    rollups.roll_up(now=NOW)
    # As days rolled up before visits were: the impressions are counted, the visits are not yet
    # (the visits' rollup reads the widget arms' impressions and the control arm's events).
    RolledUpDay.objects.update(engagement=False)
    result = retention.purge_expired(now=NOW)
    assert (result.impressions, result.engagement_events) == (0, 0)
    assert result.clicks > 0
    assert not Click.objects.filter(created_at__lt=NOW - timedelta(days=14)).exists()


def test_a_day_rolled_up_before_its_late_events_is_kept_until_rolled_up_again(retention_14_days):
    day = NOW - timedelta(days=16)
    (impression,) = [
        Impression.objects.create(
            request_id=uuid.uuid4().hex, pseudonym="p", arm="model", source="model",
            items=[{"item_id": "1", "position": 1, "source": "model"}], created_at=day,
        )
    ]  # fmt: skip
    # Rolled up the next day, then the task stopped: a click still counts for two days.
    rollups.roll_up(now=day + timedelta(days=1))
    Click.objects.create(
        click_id=uuid.uuid4().hex, impression_request_id=impression.request_id, item_id="1",
        position=1, arm="model", source="model", created_at=day + timedelta(days=1, hours=2),
    )  # fmt: skip
    assert retention.purge_expired(now=NOW).impressions == 0
    rollups.roll_up(now=NOW)  # the day's rollup was not final: computed again, with the click
    assert build_report(days=21).totals.clicks == 1
    assert retention.purge_expired(now=NOW).impressions == 1
    assert build_report(days=21).totals.clicks == 1
