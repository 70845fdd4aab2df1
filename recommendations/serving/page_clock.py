"""When the page started: the latency budget counts from there, not from the widget's tag.

Django sends `request_started` before any middleware runs; the receiver stamps the WSGI environ
(which becomes `request.META`) with `time.monotonic()`. Everything the page did before it reached
the widget (sessions, the shop's own queries, the template up to the tag) has then already used
part of the budget, so a page that is slow on its own (a busy machine) waits less for the endpoint
and never waits past its budget as a whole. Without the stamp (ASGI, RequestFactory, a Celery
task, a user instead of a request) the budget counts from the call to `recommend()`.
"""

import time
from typing import Any

from django.core.signals import request_started
from django.dispatch import receiver

META_KEY = "recommendations.page_started"


@receiver(request_started, dispatch_uid="recommendations.serving.page_clock")
def _stamp_page_start(sender: Any, environ: dict | None = None, **kwargs: Any) -> None:
    if isinstance(environ, dict):
        environ[META_KEY] = time.monotonic()


def page_started(request: Any, default: float) -> float:
    """The monotonic time the page's request started, or `default` when it is not known."""
    meta = getattr(request, "META", None)
    started = meta.get(META_KEY) if isinstance(meta, dict) else None
    return started if isinstance(started, float) and started <= default else default
