from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = "Recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for their system checks and signal receivers.
        from . import checks, signals  # noqa: F401
        from .prefetch import queue_lag  # noqa: F401
        from .serving import page_clock, product_snapshot  # noqa: F401
