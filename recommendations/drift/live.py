"""The live model version and its age, for the system check and the drift command.

The live version is the one the endpoint's answers carry: the newest the shared cache recorded
(prefetch/model_versions.py), else the version of the newest impression the model made. Its age
needs its baseline's date range, so a version whose baseline was never loaded has none.
"""

from dataclasses import dataclass

from django.utils import timezone

from ..conf import app_settings
from ..models import DailyDrift, DriftBaseline, Impression
from ..prefetch import model_versions
from . import figures
from .daily import MODEL_SOURCES


@dataclass(frozen=True)
class LiveModel:
    """The live model version, its age in days (None without a baseline) and its newest drift."""

    version: str
    age_days: float | None
    latest: DailyDrift | None


def live_version() -> str | None:
    """The model version answers carry now, or the newest impression's; None before any answer."""
    record = model_versions.latest(app_settings.TARGET_VARIANT)
    if record is not None:
        return record.version
    newest = (
        Impression.objects.filter(source__in=MODEL_SOURCES)
        .exclude(model_version="")
        .order_by("-created_at")
        .values_list("model_version", flat=True)
        .first()
    )
    return newest or None


def live_model() -> LiveModel | None:
    """The live model with its age and newest drift figures; None before any answer."""
    version = live_version()
    if version is None:
        return None
    newest_event = (
        DriftBaseline.objects.filter(model_version=version)
        .values_list("max_timestamp", flat=True)
        .first()
    )
    age = figures.age_days(newest_event, timezone.now()) if newest_event else None
    latest = DailyDrift.objects.filter(model_version=version).order_by("-day").first()
    return LiveModel(version, age, latest)
