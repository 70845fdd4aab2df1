"""Purchases, history and interactions from Oscar's order lines (`order.Line`).

An order line of a signed-in customer is one interaction: the customer (`order.user_id`), the
product (`product_id`), the quantity as its weight and the order's `date_placed`. Lines of guest
orders and of deleted products (`product` set to NULL) are left out. A line's primary key only
grows, so it is the interaction id the incremental export resumes from. Every function here is
one query (the chunks: one per chunk).
"""

from collections.abc import Iterable, Iterator
from datetime import datetime

import numpy as np
from django.db.models import Max, QuerySet
from oscar.core.loading import get_model

from ...catalog import InteractionChunk, KeyedInteractionChunk, UserHistory
from ...products import epoch_seconds


def customer_lines() -> QuerySet:
    """Order lines of signed-in customers for products that still exist."""
    return get_model("order", "Line").objects.filter(
        order__user__isnull=False, product__isnull=False
    )


def purchased_for(user_ids: Iterable[int]) -> dict[int, set[str]]:
    """Wire ids of everything each user bought."""
    bought: dict[int, set[str]] = {int(user_id): set() for user_id in user_ids}
    rows = (
        customer_lines()
        .filter(order__user_id__in=list(bought))
        .order_by()  # no Meta ordering column in the DISTINCT
        .values_list("order__user_id", "product_id")
        .distinct()
    )
    for user_id, product_id in rows:
        bought[user_id].add(str(product_id))
    return bought


def history(user_id: int, recent_limit: int) -> UserHistory:
    """Everything the user bought, most recently bought first."""
    rows = (
        customer_lines()
        .filter(order__user_id=user_id)
        .values("product_id")
        .annotate(last_placed=Max("order__date_placed"), last_line=Max("pk"))
        .order_by("-last_placed", "-last_line")
        .values_list("product_id", flat=True)
    )
    bought = [str(product_id) for product_id in rows]
    return UserHistory(recent=bought[:recent_limit], purchased=set(bought))


def active_user_ids(since: datetime, after: int = 0, limit: int | None = None) -> list[int]:
    """Customers who placed an order since `since`, with a key above `after`, ascending."""
    orders = get_model("order", "Order").objects.filter(
        date_placed__gte=since, user__isnull=False, user_id__gt=after
    )
    user_ids = orders.values_list("user_id", flat=True).distinct().order_by("user_id")
    return list(user_ids if limit is None else user_ids[:limit])


def chunks(lines: QuerySet, after_pk: int, chunk_size: int) -> Iterator[KeyedInteractionChunk]:
    """`lines` with a key above `after_pk`, in key order, as numpy chunks (keyset pages)."""
    in_database = epoch_seconds.supported()
    columns = ("pk", "order__user_id", "product_id", "quantity")
    while True:
        page = lines.filter(pk__gt=after_pk).order_by("pk")
        if in_database:
            page = page.annotate(placed=epoch_seconds.EpochSeconds("order__date_placed"))
            rows = list(page.values_list(*columns, "placed")[:chunk_size])
        else:
            rows = [
                (*row[:4], row[4].timestamp())
                for row in page.values_list(*columns, "order__date_placed")[:chunk_size]
            ]
        if not rows:
            return
        after_pk = rows[-1][0]
        table = np.array(rows, dtype=np.float64)
        yield KeyedInteractionChunk(
            ids=np.array([row[0] for row in rows], dtype=np.int64),
            interactions=InteractionChunk(
                user_ids=np.array([row[1] for row in rows], dtype=np.int64),
                item_ids=np.array([row[2] for row in rows], dtype=np.int64),
                weights=table[:, 3].astype(np.float32),
                timestamps=table[:, 4],
            ),
        )
