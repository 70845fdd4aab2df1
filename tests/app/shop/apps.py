"""The test shop's app config: its Celery app loads with Django, as a project's does."""

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "tests.app.shop"
    label = "shop"

    def ready(self) -> None:
        # The Celery app the app's tasks bind to (a project loads its own from its __init__).
        from . import celery  # noqa: F401
