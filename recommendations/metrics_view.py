"""The Prometheus scrape view: `path("metrics/", metrics_view)`.

Open to staff users, to a scraper sending `Authorization: Bearer <METRICS_TOKEN>`, and to the
client addresses in METRICS_ALLOWED_IPS. Behind a reverse proxy every request has the proxy's
address, so there the token is the protection and METRICS_ALLOWED_IPS should be [] (a deploy
check, recommendations.W102, says so while addresses open the view).
"""

import hmac
import os

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .conf import app_settings
from .ops.metrics import scrape_registry

BEARER = "bearer"


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != BEARER or not credentials.strip():
        return None
    return credentials.strip()


def _has_token(request: HttpRequest) -> bool:
    expected = app_settings.METRICS_TOKEN
    if not expected or not isinstance(expected, str):
        return False
    presented = _bearer_token(request)
    if presented is None:
        return False
    # Bytes: compare_digest refuses str with non-ASCII characters, which a client may send.
    return hmac.compare_digest(presented.encode(), expected.encode())


def _allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    if _has_token(request):
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
