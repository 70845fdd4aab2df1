"""The Celery app of the app's tests, wired as Celery's Django guide shows."""

from celery import Celery

app = Celery("tests.app.shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
