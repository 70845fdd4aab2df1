"""The Celery app of the Oscar tests, wired as Celery's Django guide shows (broker in memory)."""

from celery import Celery

app = Celery("tests.oscar")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
