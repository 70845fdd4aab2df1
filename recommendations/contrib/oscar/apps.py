"""The contrib app's config: listed before Oscar's apps, so that its browse.html comes first."""

from django.apps import AppConfig


class OscarRecommendationsConfig(AppConfig):
    name = "recommendations.contrib.oscar"
    label = "recommendations_oscar"
    verbose_name = "Recommendations for django-oscar"

    def ready(self) -> None:
        # Imported for their signal receivers and system check.
        from . import checks, receivers  # noqa: F401
