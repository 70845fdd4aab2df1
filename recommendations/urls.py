"""Include with `path("recommendations/", include("recommendations.urls"))`."""

from django.urls import path

from . import views
from .metrics_view import metrics_view

app_name = "recommendations"

urlpatterns = [
    path("widget/", views.widget_fragment, name="widget"),
    path("api/", views.recommendations_json, name="api"),
    path("click/<str:token>/<int:position>/", views.click, name="click"),
    path("metrics/", metrics_view, name="metrics"),
]
