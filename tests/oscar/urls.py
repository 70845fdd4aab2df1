"""Oscar's URLs, as Oscar's docs include them, and the app's."""

from django.apps import apps
from django.urls import include, path

urlpatterns = [
    path("recommendations/", include("recommendations.urls")),
    path("", include(apps.get_app_config("oscar").urls[0])),
]
