"""Engagement per visitor and arm: what measures the widget against no widget at all.

The control arm (`CONTROL_SHARE`, see `arms.py`) sees no widget, so it has no impressions to click;
every arm has visits, and what the visitors do on them:

- a visit: a signed-in visitor's calendar day on which a page held the widget's slot. A widget
  that shows items records its impression, which is the visit; a slot that shows nothing records
  a `visit` event instead (`track_widget`), so every page of every arm leaves exactly one event.
- `product_view`, `add_to_cart`, `purchase`: sent by the shop with the `engagement` signal.

A visit counts as engaged by an action the visitor did that day. Anonymous visitors are left out:
without a pseudonym there is no arm. Events go through the same buffer as impressions
(`events.py`). More in docs/measuring.md, "Engagement: visits, and what the visitors did".
"""

import logging
import time
import uuid
from typing import Any

from django.http import HttpRequest

from ..conf import app_settings
from ..models import EngagementEvent
from . import arms, events
from .event_rows import ENGAGEMENT
from .pseudonyms import pseudonym

logger = logging.getLogger(__name__)

VISIT = EngagementEvent.Action.VISIT.value
PRODUCT_VIEW = EngagementEvent.Action.PRODUCT_VIEW.value
ADD_TO_CART = EngagementEvent.Action.ADD_TO_CART.value
PURCHASE = EngagementEvent.Action.PURCHASE.value
# What the shop sends with the `engagement` signal; `visit` is the app's own.
SHOP_ACTIONS = (PRODUCT_VIEW, ADD_TO_CART, PURCHASE)

_warned: set[str] = set()  # unknown actions already logged in this process: one WARNING each


def _signed_in_user(request_or_user: Any) -> Any:
    user = request_or_user
    if isinstance(request_or_user, HttpRequest):
        user = getattr(request_or_user, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def arm_of_user(user: Any) -> str:
    """The experiment arm of a user object ("anonymous" for a visitor who is not signed in)."""
    if _signed_in_user(user) is None:
        return arms.ANONYMOUS
    return arms.arm_for(pseudonym(user.pk)).name


def engagement_event(user_key: str, arm: str, action: str) -> dict[str, Any]:
    """The event of one action (fields of `models.EngagementEvent`)."""
    return {
        "kind": ENGAGEMENT,
        "event_id": uuid.uuid4().hex,
        "pseudonym": user_key,
        "arm": arm,
        "action": action,
        "created_at": time.time(),
    }


def record_visit(recommendations: Any, request: HttpRequest | None) -> bool:
    """Record a signed-in visitor's page whose widget slot shows nothing, in the visitor's arm.

    A slot that shows items has its impression for a visit. False when nothing was recorded.
    """
    if recommendations is None or recommendations.items or not app_settings.TRACKING:
        return False
    user = _signed_in_user(request)
    if user is None:
        return False
    return events.record(engagement_event(pseudonym(user.pk), recommendations.arm, VISIT))


def record_action(action: str, request_or_user: Any) -> bool:
    """Record an action the shop reports (one of SHOP_ACTIONS); False when nothing was recorded.

    Never raises: an unknown action is logged once per process, an anonymous visitor is skipped.
    """
    if not app_settings.TRACKING:
        return False
    if action not in SHOP_ACTIONS:
        if action not in _warned:
            _warned.add(str(action))
            logger.warning(
                "Ignored an engagement signal with an unknown kind %r",
                action,
                extra={"kind": str(action)[:32], "expected": list(SHOP_ACTIONS)},
            )
        return False
    user = _signed_in_user(request_or_user)
    if user is None:
        return False
    user_key = pseudonym(user.pk)
    return events.record(engagement_event(user_key, arms.arm_for(user_key).name, action))
