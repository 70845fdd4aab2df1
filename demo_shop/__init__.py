"""The demo shop: a small Django project that hosts the recommendations app."""

from .celery import app as celery_app

__all__ = ["celery_app"]
