"""Retention of raw impressions, clicks and engagement events: old rows go in small batches,
exported clicks only, rows of the retention window stay, and a re-run deletes nothing twice.

Each purge here runs after the rollups, as beat runs them: the purge waits for them
(`test_purge_waits_for_rollups.py`)."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recommendations.export import retention
from recommendations.export.watermark import WATERMARK_NAME
from recommendations.models import Click, EngagementEvent, Impression
from recommendations.reporting import rollups
from recommendations.tasks import purge_tracking

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def impressions(*ages_in_days: float) -> list[int]:
    """Impressions created `age` days before NOW, inserted in the given order; their ids."""
    Impression.objects.bulk_create(
        Impression(
            request_id=f"r{n}-{age}",
            arm="model",
            source="model",
            items=[{"item_id": "1", "position": 1, "source": "model"}],
            created_at=NOW - timedelta(days=age),
        )
        for n, age in enumerate(ages_in_days)
    )
    return list(_ids(Impression))


def clicks(*ages_in_days: float) -> list[int]:
    """Clicks created `age` days before NOW, inserted in the given order; their ids."""
    Click.objects.bulk_create(
        Click(
            click_id=f"c{n}-{age}",
            impression_request_id=f"r{n}",
            item_id="1",
            position=1,
            pseudonym="p",
            arm="model",
            source="model",
            created_at=NOW - timedelta(days=age),
        )
        for n, age in enumerate(ages_in_days)
    )
    return list(_ids(Click))


def engagement_events(*ages_in_days: float) -> None:
    """Engagement events created `age` days before NOW, inserted in the given order."""
    EngagementEvent.objects.bulk_create(
        EngagementEvent(
            event_id=f"e{n}-{age}",
            pseudonym="p",
            arm="control",
            action="visit",
            created_at=NOW - timedelta(days=age),
        )
        for n, age in enumerate(ages_in_days)
    )


def purge(**options):
    """The purge after the rollup task, which makes every ended day's counts final first."""
    rollups.roll_up(now=NOW)
    return retention.purge_expired(now=NOW, **options)


def _ids(model):
    return model.objects.order_by("pk").values_list("pk", flat=True)


def ages(model) -> list[int]:
    return [round((NOW - c).total_seconds() / 86400) for c in _created(model)]


def _created(model):
    return model.objects.order_by("pk").values_list("created_at", flat=True)


def write_watermark(folder, clicks_exported_to: int, pending: dict | None = None) -> None:
    document = {
        "format": 1,
        "updated_at": NOW.isoformat(),
        "streams": {
            "interactions": {"exported_to": 0, "pending": None},
            "clicks": {"exported_to": clicks_exported_to, "pending": pending},
        },
    }
    (folder / WATERMARK_NAME).write_text(json.dumps(document))


@pytest.fixture
def retention_settings(settings, tmp_path):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "TRACKING_RETENTION_DAYS": 90,
        "TRACKING_PURGE_PAUSE": 0,
        "EXPORT_DESTINATION": "",
    }
    return settings


def test_rows_older_than_the_retention_are_deleted_and_younger_ones_kept(retention_settings):
    impressions(200, 120, 91, 89, 10, 0)
    clicks(150, 95, 30)
    result = purge()
    assert (result.impressions, result.clicks) == (3, 2)
    assert ages(Impression) == [89, 10, 0]
    assert ages(Click) == [30]


def test_engagement_events_older_than_the_retention_go_too(retention_settings):
    engagement_events(300, 91, 89, 1)
    result = purge()
    assert result.engagement_events == 2
    assert ages(EngagementEvent) == [89, 1]
    assert purge().engagement_events == 0


def test_each_batch_is_one_short_primary_key_range(retention_settings):
    impressions(*[100] * 10, 1)
    rollups.roll_up(now=NOW)
    with CaptureQueriesContext(connection) as queries:
        result = retention.purge_expired(now=NOW, batch_size=3)
    assert result.impressions == 10
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    # 4 ranges of at most 3 ids hold the 10 old rows and the young one; nothing comes after them.
    assert len(deletes) == 4
    assert all('"id" >= ' in sql and '"id" < ' in sql and " IN " not in sql for sql in deletes)
    assert ages(Impression) == [1]


def test_old_rows_flushed_out_of_order_go_and_the_scan_stops_at_young_rows(retention_settings):
    # A late flush put old rows behind young ones: the ones in the first young range are caught,
    # rows far behind it wait for the retention of the young rows (the scan does not read on).
    ids = impressions(100, 5, 100, 100, 5, 5, 5, 5, 100)
    result = purge(batch_size=2)
    kept = list(_ids(Impression))
    assert ids[0] not in kept and ids[2] not in kept and ids[3] not in kept
    assert result.impressions == 3
    assert ages(Impression) == [5, 5, 5, 5, 5, 100]


def test_gaps_of_ids_left_by_earlier_purges_are_skipped(retention_settings):
    ids = impressions(*[100] * 6, 1)
    Impression.objects.filter(pk__in=ids[1:5]).delete()
    result = purge(batch_size=1)
    assert result.impressions == 2
    assert result.batches <= 4  # first, the one after the gap, the young one (+ clicks: none)
    assert ages(Impression) == [1]


def test_a_second_run_deletes_nothing(retention_settings):
    impressions(100, 100, 1)
    clicks(100, 1)
    rollups.roll_up(now=NOW)
    assert purge_tracking.apply().get() == 3
    assert purge_tracking.apply().get() == 0
    assert (Impression.objects.count(), Click.objects.count()) == (1, 1)


def test_clicks_past_the_export_watermark_are_kept(retention_settings, tmp_path):
    retention_settings.RECOMMENDATIONS = {
        **retention_settings.RECOMMENDATIONS,
        "EXPORT_DESTINATION": str(tmp_path),
    }
    ids = clicks(100, 100, 100, 100, 1)
    write_watermark(tmp_path, clicks_exported_to=ids[1])
    result = purge()
    assert result.click_limit == ids[1]
    assert list(_ids(Click)) == ids[2:]


def test_a_pending_export_file_keeps_its_clicks(retention_settings, tmp_path):
    retention_settings.RECOMMENDATIONS = {
        **retention_settings.RECOMMENDATIONS,
        "EXPORT_DESTINATION": str(tmp_path),
    }
    ids = clicks(100, 100, 100, 100)
    # A run that died while publishing clicks ids[1]..ids[2] left it pending: it is written again.
    first, last = ids[1], ids[2]
    name = f"clicks-{first:012d}-{last:012d}.jsonl"
    write_watermark(
        tmp_path,
        clicks_exported_to=ids[0],
        pending={"name": name, "first_id": first, "last_id": last, "since": None},
    )
    purge()
    assert list(_ids(Click)) == ids[1:]


def test_a_destination_never_exported_to_keeps_every_click(retention_settings, tmp_path):
    retention_settings.RECOMMENDATIONS = {
        **retention_settings.RECOMMENDATIONS,
        "EXPORT_DESTINATION": str(tmp_path),
    }
    clicks(100, 100)
    impressions(100)
    result = purge()
    assert (result.impressions, result.clicks) == (1, 0)
    assert Click.objects.count() == 2


def test_an_unreadable_watermark_keeps_every_click_and_is_logged(
    retention_settings, tmp_path, caplog
):
    retention_settings.RECOMMENDATIONS = {
        **retention_settings.RECOMMENDATIONS,
        "EXPORT_DESTINATION": str(tmp_path),
    }
    (tmp_path / WATERMARK_NAME).write_text("{not json")
    clicks(100, 100)
    impressions(100)
    result = purge()
    assert result.clicks_held
    assert (result.impressions, Click.objects.count()) == (1, 2)
    assert "Click purge skipped" in caplog.text


def test_clicks_are_not_bound_by_the_watermark_when_the_export_leaves_them_out(
    retention_settings, tmp_path
):
    retention_settings.RECOMMENDATIONS = {
        **retention_settings.RECOMMENDATIONS,
        "EXPORT_DESTINATION": str(tmp_path),
        "EXPORT_CLICK_WEIGHT": 0,
    }
    clicks(100, 100, 1)
    result = purge()
    assert (result.clicks, result.click_limit) == (2, None)


def test_the_retention_setting_moves_the_cutoff(retention_settings):
    retention_settings.RECOMMENDATIONS = {
        **retention_settings.RECOMMENDATIONS,
        "TRACKING_RETENTION_DAYS": 30,
    }
    impressions(45, 20)
    assert purge().impressions == 1
    assert ages(Impression) == [20]


def test_the_cutoff_is_exact_to_the_second(retention_settings):
    impressions(90 + 1 / 86400, 90 - 1 / 86400)
    assert purge().impressions == 1
    assert Impression.objects.get().created_at > NOW - timedelta(days=90)
