"""The catalog adapter for django-oscar: `RECOMMENDATIONS["CATALOG"] =
"recommendations.contrib.oscar.catalog.OscarCatalog"`.

Products, availability and prices come from Oscar's catalogue, stock records and strategy
(`availability.py`); purchases, history and interactions from its order lines
(`order_lines.py`). Subclass it for a shop whose rules differ, e.g. `available_products()` for a
strategy that sells without stock.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Min, QuerySet
from oscar.core.loading import get_model
from oscar.templatetags.currency_filters import currency as oscar_currency

from ...catalog import CatalogAdapter, InteractionChunk, KeyedInteractionChunk, UserHistory
from . import availability, order_lines


class OscarCatalog(CatalogAdapter):
    """Oscar's products, strategy and order lines."""

    def get_product_model(self) -> type:
        return get_model("catalogue", "Product")

    def available_products(self) -> QuerySet:
        return availability.available_products()

    def widget_products(self) -> QuerySet:
        return availability.for_widget(self.available_products())

    def products_for_item_ids(self, item_ids: Iterable[str]) -> dict[str, Any]:
        # One query (and one per prefetched relation), then the shop's strategy decides.
        return availability.keep_buyable(super().products_for_item_ids(item_ids))

    def describe(self, product: Any) -> dict[str, Any]:
        return self.describe_all([product])[0]

    def describe_all(self, products: list[Any]) -> list[dict[str, Any]]:
        strategy = availability.strategy()
        described = []
        for product in products:
            amount, code = availability.shown_price(availability.purchase_info(product, strategy))
            described.append(
                {
                    "name": product.get_title(),
                    "url": product.get_absolute_url(),
                    "price": amount,
                    "price_display": None if amount is None else oscar_currency(amount, code),
                    "currency": code,
                    "image_url": _image_url(product),
                }
            )
        return described

    def currency(self, product: Any) -> str | None:
        """The currency of the price Oscar's strategy gives the product."""
        info = availability.purchase_info(product, availability.strategy())
        return availability.shown_price(info)[1]

    def format_price(self, product: Any, price: Any) -> str | None:
        """The price as Oscar's `currency` filter shows it (Babel, `OSCAR_CURRENCY_FORMAT`)."""
        if price is None:
            return None
        return oscar_currency(price, self.currency(product))

    def purchased_item_ids(self, user_id: int) -> set[str]:
        return order_lines.purchased_for([user_id])[int(user_id)]

    def purchased_item_ids_for(self, user_ids: Iterable[int]) -> dict[int, set[str]]:
        return order_lines.purchased_for(user_ids)

    def recent_item_ids(self, user_id: int, limit: int) -> list[str]:
        return order_lines.history(user_id, limit).recent

    def user_history(self, user_id: int, recent_limit: int) -> UserHistory:
        return order_lines.history(user_id, recent_limit)

    def active_user_ids(self, since: datetime) -> list[int]:
        return order_lines.active_user_ids(since)

    def active_user_id_page(self, since: datetime, after: int, limit: int) -> list[int]:
        return order_lines.active_user_ids(since, after=after, limit=limit)

    def item_categories(self) -> dict[int, Any]:
        """Product pk -> its first category's pk; a child takes its parent's."""
        product_model = self.get_product_model()
        first = dict(
            get_model("catalogue", "ProductCategory")
            .objects.values("product_id")
            .annotate(first=Min("category_id"))
            .values_list("product_id", "first")
        )
        children = product_model._default_manager.filter(structure=product_model.CHILD)
        for child_pk, parent_pk in children.values_list("pk", "parent_id"):
            if parent_pk in first:
                first[child_pk] = first[parent_pk]
        return first

    def interaction_chunks(
        self, since: datetime | None = None, chunk_size: int = 100_000
    ) -> Iterator[InteractionChunk]:
        lines = order_lines.customer_lines()
        if since is not None:
            lines = lines.filter(order__date_placed__gte=since)
        for keyed in order_lines.chunks(lines, after_pk=0, chunk_size=chunk_size):
            yield keyed.interactions

    def interaction_chunks_after(
        self, after_id: int, chunk_size: int = 100_000
    ) -> Iterator[KeyedInteractionChunk]:
        # An order line's primary key is the interaction id: it only grows.
        yield from order_lines.chunks(order_lines.customer_lines(), after_id, chunk_size)


def _image_url(product: Any) -> str:
    """The URL of Oscar's primary image, or of Oscar's "image not found" placeholder (which
    Oscar keeps in MEDIA_ROOT under `OSCAR_MISSING_IMAGE_URL`)."""
    image = product.primary_image()
    if isinstance(image, dict):  # Oscar's missing-image stand-in
        field = get_model("catalogue", "ProductImage")._meta.get_field("original")
        return field.storage.url(image["original"])
    return image.original.url
