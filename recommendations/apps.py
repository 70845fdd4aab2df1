from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = "Recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (  # noqa: F401 - checks and receivers
            checks,
            page_clock,
            product_snapshot,
            queue_lag,
            security_checks,
            signals,
        )
