"""Daily rollups: the report's figures are the same from the rollups as from the raw rows, a re-run
adds nothing twice, a late click lands on its impression's day, and purged days keep their counts."""

import random
import uuid
from dataclasses import asdict
from datetime import timedelta

import pytest
from django.utils import timezone

from recommendations.models import Click, DailyRollup, Impression, RolledUpDay
from recommendations.reporting import rollups
from recommendations.reporting.report import build_report
from recommendations.tasks import roll_up_tracking
from tests.app.test_report import impressions

pytestmark = pytest.mark.django_db

ARMS = [("model", "model", "AllTraffic", ""), ("model", "fallback", "", "timeout"),
        ("holdout", "fallback", "", "holdout"), ("variant", "model", "challenger", ""),
        ("model", "mixed", "AllTraffic", "too_few_items")]  # fmt: skip


def noon(days_ago: int):
    local = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    return local - timedelta(days=days_ago)


@pytest.fixture
def history():
    """Ten days of impressions over every arm, source and reason, with clicks, at random."""
    rng = random.Random(7)
    for days_ago in range(10):
        for arm, source, variant, reason in ARMS:
            count = rng.randint(0, 6)
            clicks = [rng.choice([0, 0, 1, 2]) for _ in range(count)]
            when = noon(days_ago) + timedelta(hours=rng.randint(-11, 11))
            impressions(
                count, when=when, arm=arm, source=source, variant=variant, reason=reason,
                clicks=clicks,
            )  # fmt: skip


def raw_report(days: int = 14):
    """The report from the raw rows alone (no day rolled up)."""
    RolledUpDay.objects.all().delete()
    DailyRollup.objects.all().delete()
    return build_report(days=days)


def comparable(report) -> dict:
    figures = asdict(report)
    for name in ("dropped_events", "lost_batches"):
        figures.pop(name)
    return figures


def test_the_report_from_rollups_equals_the_report_from_raw_rows(history):
    computed = rollups.roll_up()
    assert len(computed) == 10  # every ended day, and today so far
    from_rollups = build_report(days=14)
    assert DailyRollup.objects.exists()
    assert comparable(from_rollups) == comparable(raw_report())
    assert from_rollups.totals.impressions == Impression.objects.count()


def test_the_report_reads_raw_rows_only_for_today(history, django_assert_max_num_queries):
    rollups.roll_up()
    with django_assert_max_num_queries(6) as queries:
        # The ten days of the history, rolled up; today's raw rows since the roll-up. (Days before
        # the first impression are no rolled-up days: a longer window reads them raw too.)
        build_report(days=10)
    raw_reads = [
        q["sql"] for q in queries.captured_queries if "recommendations_impression" in q["sql"]
    ]
    assert len(raw_reads) == 1  # today's since the roll-up, one grouped query


def test_a_rerun_adds_nothing_twice(history):
    rollups.roll_up()
    first = list(DailyRollup.objects.values_list("day", "arm", "impressions", "clicked", "clicks"))
    # Only the days late events can change, and today, again.
    assert roll_up_tracking.apply().get() == rollups.reopened_days() + 1
    again = list(DailyRollup.objects.values_list("day", "arm", "impressions", "clicked", "clicks"))
    assert again == first


def test_a_late_click_lands_on_its_impressions_day(history):
    rollups.roll_up()
    (late,) = impressions(1, when=noon(2), arm="model", source="model", variant="AllTraffic")
    day = noon(2).date()
    before = build_report(days=14).daily_by_arm["model"][day]
    Click.objects.create(
        click_id=uuid.uuid4().hex, impression_request_id=late.request_id, item_id="1",
        position=1, arm="model", source="model", variant="AllTraffic", created_at=timezone.now(),
    )  # fmt: skip
    assert build_report(days=14).daily_by_arm["model"][day] == before  # day 2 is rolled up
    rollups.roll_up()  # day 2 is still open to late events: computed again
    after = build_report(days=14)
    assert after.daily_by_arm["model"][day].clicks == before.clicks + 1
    assert after.daily_by_arm["model"][day].clicked == before.clicked + 1
    assert comparable(after) == comparable(raw_report())


def test_purged_days_keep_their_rollups(history, settings):
    rollups.roll_up()
    report = build_report(days=14)
    Impression.objects.filter(created_at__lt=noon(0).replace(hour=0)).delete()
    Click.objects.all().delete()
    kept = build_report(days=14)
    past = [row for row in report.rows if row.day < noon(0).date()]
    assert [row for row in kept.rows if row.day < noon(0).date()] == past
    # A later run never recomputes those days from the rows that are gone.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRACKING_RETENTION_DAYS": 14}
    rollups.roll_up()
    assert [row for row in build_report(days=14).rows if row.day < noon(5).date()] == [
        row for row in past if row.day < noon(5).date()
    ]


def test_no_impressions_no_rollups():
    assert rollups.roll_up() == []
    assert not DailyRollup.objects.exists()


def test_impressions_after_the_roll_up_are_read_raw_until_the_next(history):
    rollups.roll_up(now=timezone.now() - timedelta(minutes=10))
    impressions(3, when=timezone.now() - timedelta(minutes=1), arm="model", source="model")
    report = build_report(days=14)
    assert comparable(report) == comparable(raw_report())
    assert report.totals.impressions == Impression.objects.count()
