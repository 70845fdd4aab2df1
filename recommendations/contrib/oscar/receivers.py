"""Oscar's signals, told to the app: an order placed, a stock record changed.

`order_placed` comes from Oscar's `OrderCreator.place_order`, which a checkout may run inside a
larger transaction (`ATOMIC_REQUESTS`): `purchase_completed` waits for the commit, so a rolled
back order never refreshes anyone. Stock records change with `save()` in the dashboard and with
`QuerySet.update()` when a checkout allocates stock: either way the processes' product snapshots
start again, so a product with no stock left leaves the widget at once.
"""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from oscar.apps.order.signals import order_placed
from oscar.core.loading import get_model

from ...serving import product_snapshot
from ...signals import purchase_completed


def send_purchase_completed(sender: Any, order: Any, **kwargs: Any) -> None:
    """After the commit, `purchase_completed` for the order's customer and products."""
    if order.user_id is None:
        return  # a guest's order: there is no customer whose recommendations would change
    customer = order.user
    lines = order.lines.exclude(product=None).order_by("pk")
    item_ids = list(dict.fromkeys(str(pk) for pk in lines.values_list("product_id", flat=True)))
    transaction.on_commit(
        lambda: purchase_completed.send(sender=type(order), user=customer, item_ids=item_ids)
    )


def stock_changed(sender: Any, using: str | None = None, **kwargs: Any) -> None:
    """A stock record saved or deleted: availability and prices may have changed."""
    product_snapshot.catalog_changed(using=using)


order_placed.connect(send_purchase_completed, dispatch_uid="recommendations.oscar.order_placed")
_stock_record = get_model("partner", "StockRecord")
post_save.connect(stock_changed, sender=_stock_record, dispatch_uid="recommendations.oscar.stock")
post_delete.connect(
    stock_changed, sender=_stock_record, dispatch_uid="recommendations.oscar.stock_deleted"
)
