"""Whether the Celery beat schedule the app can see runs the tracking rollup and purge (W003)."""

from celery import current_app
from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Warning

from ..conf import app_settings

# The tasks that make TRACKING_RETENTION_DAYS true: the rollups count the days, then the purge
# deletes their raw rows (never before: see export/retention.py).
TRACKING_JOBS = ("recommendations.tasks.roll_up_tracking", "recommendations.tasks.purge_tracking")


def check_beat_schedule(user_settings: dict) -> list[CheckMessage]:
    """Warn when the beat schedule the app can see lacks the rollup or the purge."""
    if not (app_settings.TRACKING or "TRACKING_RETENTION_DAYS" in user_settings):
        return []
    schedule = visible_beat_schedule()
    if not schedule:
        return []
    tasks = {entry.get("task") for entry in schedule.values() if isinstance(entry, dict)}
    missing = [name for name in TRACKING_JOBS if name not in tasks]
    if not missing:
        return []
    return [
        Warning(
            f"The Celery beat schedule has no {' or '.join(missing)} entry: raw impressions, "
            "clicks and engagement events are never deleted, whatever TRACKING_RETENTION_DAYS "
            f"({app_settings.TRACKING_RETENTION_DAYS} days) says.",
            hint="The purge deletes only days the rollups have counted, so it needs both: "
            "schedule roll_up_tracking hourly and purge_tracking daily in CELERY_BEAT_SCHEDULE "
            "(docs/installation.md shows the whole schedule).",
            id="recommendations.W003",
        )
    ]


def visible_beat_schedule() -> dict | None:
    """The beat schedule this process can see: settings.CELERY_BEAT_SCHEDULE, else the current
    Celery app's; None when there is none, or when beat's scheduler keeps its entries elsewhere
    (django-celery-beat's database, any scheduler not Celery's own)."""
    if apps.is_installed("django_celery_beat"):
        return None  # its entries live in the database (`beat -S django` cannot be seen)
    # The shop's app is current once its module is imported (Celery's Django layout); without
    # one, Celery's stand-in app holds no schedule.
    conf = current_app.conf
    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
    if schedule is None:
        schedule = conf.beat_schedule
    scheduler = getattr(settings, "CELERY_BEAT_SCHEDULER", None) or conf.beat_scheduler
    if isinstance(scheduler, type):
        scheduler = f"{scheduler.__module__}.{scheduler.__qualname__}"
    if not str(scheduler).startswith("celery.beat"):
        return None
    return dict(schedule or {}) or None
