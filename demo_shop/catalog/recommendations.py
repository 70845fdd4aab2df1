"""The demo shop's catalog adapter for the recommendations app."""

from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Max
from django.urls import get_script_prefix, reverse

from demo_shop.orders.models import Order, OrderLine
from recommendations.catalog import (
    CatalogAdapter,
    InteractionChunk,
    KeyedInteractionChunk,
    UserHistory,
)
from recommendations.products.epoch_seconds import EpochSeconds

from .models import Product
from .pg_history import copy_interaction_chunks

# What describe() reads; nothing else of a product is loaded for the widget.
WIDGET_FIELDS = ("pk", "name", "slug", "price")
SLUG_MARK = "slug-placeholder"


@lru_cache(maxsize=8)
def _url_templates(script_prefix: str) -> tuple[str, str]:
    return (
        reverse("product_detail", args=[SLUG_MARK]),
        reverse("product_image", args=[SLUG_MARK]),
    )


class DemoCatalog(CatalogAdapter):
    """Products are available when active and in stock; order lines are the interactions."""

    def get_product_model(self) -> type[Product]:
        return Product

    def available_products(self):
        return Product.objects.available()

    def widget_products(self):
        # The widget shows name, price and links: the description (long text) stays in the table.
        return self.available_products().only(*WIDGET_FIELDS)

    def describe(self, product: Product) -> dict[str, Any]:
        return self.describe_all([product])[0]

    def describe_all(self, products: list[Product]) -> list[dict[str, Any]]:
        # Both links from one reverse() per process and URL prefix (they only differ by the
        # slug), and the prefix (a per-request value) read once per widget.
        detail, image = _url_templates(get_script_prefix())
        return [
            {
                "name": product.name,
                "url": detail.replace(SLUG_MARK, product.slug),
                "price": product.price,
                "image_url": image.replace(SLUG_MARK, product.slug),
            }
            for product in products
        ]

    def purchased_item_ids(self, user_id: int) -> set[str]:
        pks = OrderLine.objects.filter(order__user_id=user_id).values_list("product_id", flat=True)
        return {str(pk) for pk in set(pks)}

    def purchased_item_ids_for(self, user_ids) -> dict[int, set[str]]:
        bought: dict[int, set[str]] = {int(user_id): set() for user_id in user_ids}
        rows = (
            OrderLine.objects.filter(order__user_id__in=list(bought))
            .values_list("order__user_id", "product_id")
            .distinct()
        )
        for user_id, product_id in rows:
            bought[user_id].add(str(product_id))
        return bought

    def recent_item_ids(self, user_id: int, limit: int) -> list[str]:
        rows = (
            OrderLine.objects.filter(order__user_id=user_id)
            .order_by("-order__created_at", "-pk")
            .values_list("product_id", flat=True)[: limit * 3]
        )
        seen: dict[str, None] = {}
        for pk in rows:
            seen.setdefault(str(pk), None)
        return list(seen)[:limit]

    def user_history(self, user_id: int, recent_limit: int) -> UserHistory:
        # One query: every product the user bought, most recently bought first.
        rows = (
            OrderLine.objects.filter(order__user_id=user_id)
            .values("product_id")
            .annotate(last_bought=Max("order__created_at"), last_line=Max("pk"))
            .order_by("-last_bought", "-last_line")
            .values_list("product_id", flat=True)
        )
        bought = [str(pk) for pk in rows]
        return UserHistory(recent=bought[:recent_limit], purchased=set(bought))

    def active_user_ids(self, since: datetime) -> list[int]:
        return list(
            Order.objects.filter(created_at__gte=since)
            .values_list("user_id", flat=True)
            .distinct()
            .order_by("user_id")
        )

    def active_user_id_page(self, since: datetime, after: int, limit: int) -> list[int]:
        # A keyset page: the (user, created_at) index answers it without reading the users before.
        return list(
            Order.objects.filter(created_at__gte=since, user_id__gt=after)
            .values_list("user_id", flat=True)
            .distinct()
            .order_by("user_id")[:limit]
        )

    def item_categories(self) -> dict[int, Any]:
        return dict(Product.objects.values_list("pk", "category_id"))

    def interaction_chunks(
        self, since: datetime | None = None, chunk_size: int = 100_000
    ) -> Iterator[InteractionChunk]:
        if connection.vendor == "postgresql":
            # Binary COPY: about 4x faster than the keyset queries below at 10M lines.
            yield from copy_interaction_chunks(since, chunk_size)
            return
        lines = OrderLine.objects.all()
        if since is not None:
            lines = lines.filter(order__created_at__gte=since)
        for keyed in _line_chunks(lines, after_pk=0, chunk_size=chunk_size):
            yield keyed.interactions

    def interaction_chunks_after(
        self, after_id: int, chunk_size: int = 100_000
    ) -> Iterator[KeyedInteractionChunk]:
        # An order line's primary key is the interaction id: it only grows.
        yield from _line_chunks(OrderLine.objects.all(), after_pk=after_id, chunk_size=chunk_size)


def _line_chunks(lines, after_pk: int, chunk_size: int) -> Iterator[KeyedInteractionChunk]:
    """Order lines with a primary key above `after_pk`, in key order, as numpy chunks."""
    # Keyset pagination on the line's primary key: each chunk is one bounded query. The order
    # time comes as epoch seconds from the database: parsing a million datetimes in Python
    # would cost more than the whole ranking.
    last_pk = after_pk
    while True:
        rows = list(
            lines.filter(pk__gt=last_pk)
            .order_by("pk")
            .annotate(seconds=EpochSeconds("order__created_at"))
            .values_list("pk", "order__user_id", "product_id", "quantity", "seconds")[:chunk_size]
        )
        if not rows:
            return
        last_pk = rows[-1][0]
        columns = np.array(rows, dtype=np.float64)
        del rows
        yield KeyedInteractionChunk(
            ids=columns[:, 0].astype(np.int64),
            interactions=InteractionChunk(
                user_ids=columns[:, 1].astype(np.int64),
                item_ids=columns[:, 2].astype(np.int64),
                weights=columns[:, 3].astype(np.float32),
                timestamps=columns[:, 4],
            ),
        )
