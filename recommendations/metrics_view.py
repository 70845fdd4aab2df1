"""The Prometheus scrape view: `path("metrics/", metrics_view)`; allowed addresses or staff only."""

import os

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .conf import app_settings
from .metrics import scrape_registry


def _allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    # REMOTE_ADDR, not X-Forwarded-For: a header the client writes must not open the door.
    return request.META.get("REMOTE_ADDR") in set(app_settings.METRICS_ALLOWED_IPS or ())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every recommendations metric in Prometheus' text format."""
    if not _allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    registry = scrape_registry(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
