"""Signals the app defines for its host shop, and the receivers it connects.

Receivers enqueue work after the transaction commits and never raise: a broker that is down
costs a WARNING (see refresh_queue), never a failed login or checkout.
"""

import logging
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import Signal, receiver

from .prefetch import entries
from .prefetch.refresh_queue import enqueue_on_commit, safe_enqueue

logger = logging.getLogger(__name__)

#: Sent by the shop's checkout after an order is saved: kwargs `user` and `item_ids` (list of str).
purchase_completed = Signal()

#: Sent by the shop when a visitor engages: kwargs `kind` ("product_view", "add_to_cart" or
#: "purchase") and `request` (or `user`). Counted per visit and arm (engagement.py).
engagement = Signal()


@receiver(user_logged_in, dispatch_uid="recommendations.prefetch_on_login")
def prefetch_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Warm the cache while the customer is on their way to the home page."""
    from .tasks import prefetch_user

    user_id = user.pk
    enqueue_on_commit(lambda: safe_enqueue(prefetch_user, user_id))


@receiver(purchase_completed, dispatch_uid="recommendations.refresh_after_purchase")
def refresh_after_purchase(sender: Any, user: Any, item_ids: Any = (), **kwargs: Any) -> None:
    """Bought items vanish at once: drop the user's entry, then prefetch a new one.

    A checkout takes stock, most often with `QuerySet.update()` (no `post_save`), so the
    processes' product snapshots start again too.
    """
    from .fallback import store
    from .serving import product_snapshot
    from .tasks import prefetch_user

    user_id = getattr(user, "pk", user)
    product_snapshot.catalog_changed()
    entries.delete_entry(user_id)
    store.forget_user(user_id)
    enqueue_on_commit(lambda: safe_enqueue(prefetch_user, user_id))


@receiver(engagement, dispatch_uid="recommendations.record_engagement")
def record_engagement(
    sender: Any, kind: str = "", request: Any = None, user: Any = None, **kwargs: Any
) -> None:
    """Buffer the action for the widget-against-no-widget comparison (no write on the page)."""
    from .tracking.engagement import record_action

    try:
        record_action(kind, request if request is not None else user)
    except Exception:
        # Measuring must never cost the shop a page.
        logger.exception("Recording an engagement signal failed")
