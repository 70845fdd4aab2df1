"""Celery tasks of the app: thin wrappers that call `fallback` and `service`."""

from celery import shared_task
from django.db import DatabaseError

from . import fallback


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=3,
    ignore_result=True,
)
def refresh_fallback() -> int | None:
    """Recompute the local fallback ranking (hourly in beat); the new version's id, or None if skipped."""
    version = fallback.refresh_exclusive()
    return version.pk if version is not None else None
