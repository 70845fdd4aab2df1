"""The test shop's catalog adapter: available products, and order lines as the interactions."""

from collections.abc import Iterable, Iterator
from datetime import datetime

import numpy as np

from recommendations.catalog import (
    CatalogAdapter,
    InteractionChunk,
    KeyedInteractionChunk,
    UserHistory,
)

from .models import Order, OrderLine, Product


class ShopCatalog(CatalogAdapter):
    """Plain ORM queries; the data of a test is small."""

    def get_product_model(self) -> type[Product]:
        return Product

    def available_products(self):
        return Product.objects.available()

    def widget_products(self):
        # What the widget shows (describe()): the description stays in the table.
        return self.available_products().only("pk", "name", "slug", "price")

    def purchased_item_ids(self, user_id: int) -> set[str]:
        lines = OrderLine.objects.filter(order__user_id=user_id)
        return {str(pk) for pk in lines.values_list("product_id", flat=True)}

    def purchased_item_ids_for(self, user_ids: Iterable[int]) -> dict[int, set[str]]:
        bought: dict[int, set[str]] = {int(user_id): set() for user_id in user_ids}
        lines = OrderLine.objects.filter(order__user_id__in=list(bought))
        for user_id, product_id in lines.values_list("order__user_id", "product_id"):
            bought[user_id].add(str(product_id))
        return bought

    def recent_item_ids(self, user_id: int, limit: int) -> list[str]:
        return self.user_history(user_id, limit).recent

    def user_history(self, user_id: int, recent_limit: int) -> UserHistory:
        lines = OrderLine.objects.filter(order__user_id=user_id).order_by(
            "-order__created_at", "-pk"
        )
        newest_first = dict.fromkeys(str(pk) for pk in lines.values_list("product_id", flat=True))
        return UserHistory(recent=list(newest_first)[:recent_limit], purchased=set(newest_first))

    def active_user_ids(self, since: datetime) -> list[int]:
        orders = Order.objects.filter(created_at__gte=since)
        return sorted(set(orders.values_list("user_id", flat=True)))

    def active_user_id_page(self, since: datetime, after: int, limit: int) -> list[int]:
        orders = Order.objects.filter(created_at__gte=since, user_id__gt=after)
        return list(orders.values_list("user_id", flat=True).distinct().order_by("user_id")[:limit])

    def item_categories(self) -> dict[int, int]:
        return dict(Product.objects.values_list("pk", "category_id"))

    def interaction_chunks(
        self, since: datetime | None = None, chunk_size: int = 100_000
    ) -> Iterator[InteractionChunk]:
        lines = OrderLine.objects.all()
        if since is not None:
            lines = lines.filter(order__created_at__gte=since)
        for keyed in _chunks(lines, 0, chunk_size):
            yield keyed.interactions

    def interaction_chunks_after(
        self, after_id: int, chunk_size: int = 100_000
    ) -> Iterator[KeyedInteractionChunk]:
        # An order line's primary key is the interaction id: it only grows.
        yield from _chunks(OrderLine.objects.all(), after_id, chunk_size)


def _chunks(lines, after_pk: int, chunk_size: int) -> Iterator[KeyedInteractionChunk]:
    while rows := list(
        lines.filter(pk__gt=after_pk)
        .order_by("pk")
        .values_list("pk", "order__user_id", "product_id", "quantity", "order__created_at")[
            :chunk_size
        ]
    ):
        after_pk = rows[-1][0]
        yield KeyedInteractionChunk(
            ids=np.array([row[0] for row in rows], dtype=np.int64),
            interactions=InteractionChunk(
                user_ids=np.array([row[1] for row in rows], dtype=np.int64),
                item_ids=np.array([row[2] for row in rows], dtype=np.int64),
                weights=np.array([row[3] for row in rows], dtype=np.float32),
                timestamps=np.array([row[4].timestamp() for row in rows], dtype=np.float64),
            ),
        )
