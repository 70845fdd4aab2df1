"""Tracking switched on against an endpoint nobody listens on, for tests of impressions and clicks."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.test import override_settings

from recommendations.tracking import events

# Port 9 on loopback refuses at once: pages fall back, and no test reaches a real endpoint.
OFFLINE_TRACKED: dict[str, Any] = {
    "ENDPOINT_NAME": "offline",
    "ENDPOINT_URL": "http://127.0.0.1:9",
    "CATALOG": settings.TEST_CATALOG,
    "TRACKING": True,
    # The process's hand-off thread stays out of the way unless a test shortens this.
    "EVENT_FLUSH_INTERVAL": 60.0,
}


@contextmanager
def tracking_with(recommendations: dict[str, Any]) -> Iterator[None]:
    """`RECOMMENDATIONS` set to `recommendations`, the event buffer empty before and after."""
    events.buffer().clear()
    with override_settings(RECOMMENDATIONS=recommendations):
        yield
    events.buffer().clear()


def impression_event(number: int, **fields: Any) -> dict[str, Any]:
    """An impression event as a web process buffers it, numbered by its request id."""
    return {
        "kind": events.IMPRESSION,
        "request_id": f"{number:032x}",
        "pseudonym": "p",
        "arm": "model",
        "source": "model",
        "model_version": "",
        "variant": "",
        "fallback_reason": "",
        "items": [],
        "created_at": time.time(),
        **fields,
    }
