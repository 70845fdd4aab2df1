"""Impressions and clicks of the widget, when `RECOMMENDATIONS["TRACKING"]` is on.

A rendered widget records one impression (the user's pseudonym, never the primary key; the
items with their positions; source, model version, arm, production variant, fallback reason) and
gets signed click links (`clicks.py`) in place of the products' URLs. Both go through the event
buffer (`events.py`), so the page does no database write and no network round trip for them.
"""

import logging
import time
from typing import Any

from django.http import HttpRequest

from ..conf import app_settings
from ..models import Click, Impression
from ..serving.answers import Recommendations
from . import clicks, engagement, events
from .event_rows import fit_to_columns
from .pseudonyms import pseudonym

logger = logging.getLogger(__name__)

MAX_COUNT = 32_767  # what a PositiveSmallIntegerField holds on every database


def is_on() -> bool:
    """Whether impressions and clicks are recorded."""
    return bool(app_settings.TRACKING)


def _user_pseudonym(request: HttpRequest | None) -> str:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    return pseudonym(user.pk)


def impression_event(recommendations: Recommendations, user_key: str) -> dict[str, Any]:
    """The impression event of a rendered widget (fields of `models.Impression`, fitted to them:
    the variant and model version come from the endpoint).

    The model version and variant are the answering model's whenever it answered, also when the
    availability filter left none of its items (a fallback impression then still counts against
    the version whose answer was stale)."""
    answered = recommendations.answered
    return fit_to_columns(
        Impression,
        {
            "kind": events.IMPRESSION,
            "request_id": recommendations.request_id,
            "pseudonym": user_key,
            "arm": recommendations.arm,
            "source": recommendations.source,
            "model_version": recommendations.model_version
            or (answered and answered.model_version)
            or "",
            "variant": recommendations.variant or (answered and answered.variant) or "",
            "fallback_reason": recommendations.fallback_reason or "",
            "items": [
                {"item_id": item.item_id, "position": item.position, "source": item.source}
                for item in recommendations.items
            ],
            "prior": bool(answered and answered.prior),
            "model_checked": min(answered.checked, MAX_COUNT) if answered else 0,
            "model_dropped": min(answered.dropped, MAX_COUNT) if answered else 0,
            "created_at": time.time(),
        },
    )


def click_event(target: clicks.ClickTarget, user_key: str) -> dict[str, Any]:
    """The click event of a followed link (fields of `models.Click`, fitted to them)."""
    return fit_to_columns(
        Click,
        {
            "kind": events.CLICK,
            "click_id": target.click_id,
            "impression_request_id": target.request_id,
            "item_id": target.item_id,
            "position": target.position,
            "pseudonym": user_key,
            "arm": target.arm,
            "source": target.source,
            "variant": target.variant,
            "created_at": time.time(),
        },
    )


def track_widget(
    recommendations: Recommendations | None, request: HttpRequest | None
) -> Recommendations | None:
    """Record the impression of a widget about to be shown and give its items click links."""
    try:
        # A slot that shows nothing (the control arm, an empty widget) has no impression to say
        # the visitor was here: a visit event does, so that every arm's visits count alike.
        engagement.record_visit(recommendations, request)
    except Exception:
        logger.exception("Recording a recommendations visit failed")
    if recommendations is None or not recommendations.items or not is_on():
        return recommendations
    try:
        user_key = _user_pseudonym(request)
        events.record(impression_event(recommendations, user_key))
        stamp = clicks.ImpressionStamp(
            request_id=recommendations.request_id,
            arm=recommendations.arm,
            source=recommendations.source,
            variant=recommendations.variant or "",
            item_ids=tuple(item.item_id for item in recommendations.items),
            viewer=user_key,  # the links count only for this viewer (clicks.shown_to)
        )
        token = clicks.sign(stamp)
        for item, link in zip(recommendations.items, clicks.links(stamp, token), strict=True):
            item.click_url = link
        recommendations.click_token = token
    except Exception:
        # Tracking must never cost the shop its page: the widget shows with plain links.
        logger.exception("Recommendations tracking failed; the widget shows without it")
    return recommendations


def record_click(target: clicks.ClickTarget, request: HttpRequest) -> bool:
    """Record a click through a valid link; False when tracking is off or the event was dropped."""
    if not is_on():
        return False
    return events.record(click_event(target, _user_pseudonym(request)))
