"""The adapter between the app and the host shop's catalog and orders.

The app never imports the shop: it learns which model is the product, which products may be
shown, what a user bought and the interaction history through a `CatalogAdapter`. The default
works from settings (`PRODUCT_MODEL`, `AVAILABLE_FILTER`); a shop subclasses it for the rest
(purchases and interaction history live in the shop's own order models).
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from django.apps import apps
from django.db import models
from django.utils.module_loading import import_string

from .conf import app_settings
from .prices import format_amount
from .products.availability import available
from .products.keys import product_pk
from .products.lookup import products_by_pks


class InteractionChunk(NamedTuple):
    """A slice of the interaction history as parallel numpy arrays (never Python objects per row)."""

    user_ids: np.ndarray  # int64, the shop's user primary keys
    item_ids: np.ndarray  # int64, product primary keys
    weights: np.ndarray  # float32, e.g. quantity
    timestamps: np.ndarray  # float64, seconds since the epoch


class KeyedInteractionChunk(NamedTuple):
    """An `InteractionChunk` with each row's interaction id (increasing): what an export resumes from."""

    ids: np.ndarray  # int64, strictly increasing within and across the chunks of one iteration
    interactions: InteractionChunk


class UserHistory(NamedTuple):
    """What the fallback needs to know about one user at page time."""

    recent: list[str]  # wire ids, newest first
    purchased: set[str]  # wire ids of everything the user bought


class CatalogAdapter:
    """Default adapter: products from settings; no purchase history (override in the shop)."""

    def get_product_model(self) -> type[models.Model]:
        """The shop's product model, from `RECOMMENDATIONS["PRODUCT_MODEL"]`."""
        return apps.get_model(app_settings.PRODUCT_MODEL)

    def available_products(self) -> models.QuerySet:
        """Products that may be shown right now: `AVAILABLE_FILTER` (a dict of filter keyword
        arguments, a `Q` object, or the dotted path of a callable) applied to the product model."""
        products = self.get_product_model()._default_manager.all()
        return available(products, app_settings.AVAILABLE_FILTER)

    def item_id(self, product: models.Model) -> str:
        """The id a product has on the wire: its primary key as a string."""
        return str(product.pk)

    def pk_from_item_id(self, item_id: str) -> Any:
        """The primary key for a wire id, or None when the id cannot be one.

        None also for an id the key's column cannot hold (an integer past 64 bits, text for an
        integer key): the id comes from the endpoint, and no query may fail on it.
        """
        return product_pk(self.get_product_model(), item_id)

    def storable_item_ids(self, item_ids: Iterable[str]) -> list[str]:
        """The wire ids, in order, that can name a product here: an answer is cached without the
        others (ids the key's column cannot hold, which `pk_from_item_id` turns into None)."""
        try:
            model = self.get_product_model()
        except (LookupError, ValueError):
            # No product model configured: the system checks say so, and pages check ids again.
            return list(item_ids)
        return [i for i in item_ids if product_pk(model, self._pk_or_none(i)) is not None]

    def _pk_or_none(self, item_id: str) -> Any:
        # An adapter's own pk_from_item_id may raise on an id it did not expect: no key either.
        try:
            return self.pk_from_item_id(item_id)
        except (TypeError, ValueError):
            return None

    def widget_products(self) -> models.QuerySet:
        """The products the widget loads: available ones (`.only()` what `describe` reads)."""
        return self.available_products()

    def products_for_item_ids(self, item_ids: Iterable[str]) -> dict[str, models.Model]:
        """Available products for the given wire ids, in one query; unknown ids are left out."""
        pks = [pk for pk in (self.pk_from_item_id(i) for i in item_ids) if pk is not None]
        return {self.item_id(p): p for p in products_by_pks(self, pks)}

    def describe(self, product: models.Model) -> dict[str, Any]:
        """What the widget and the JSON API show of a product: name, url, price, image_url.

        It may also give "price_display" (the price as the card shows it) and "currency"; when it
        does not, the app asks `format_price` and `currency`.
        """
        url = product.get_absolute_url() if hasattr(product, "get_absolute_url") else None
        image = product.get_image_url() if hasattr(product, "get_image_url") else None
        return {
            "name": getattr(product, "name", str(product)),
            "url": url,
            "price": getattr(product, "price", None),
            "image_url": image,
        }

    def describe_all(self, products: list[models.Model]) -> list[dict[str, Any]]:
        """`describe` for each of a widget's products; override to share work between them
        (the demo reads the URL prefix once per widget, not once per product)."""
        return [self.describe(product) for product in products]

    def currency(self, product: models.Model) -> str | None:
        """The ISO 4217 code of the product's price: `RECOMMENDATIONS["CURRENCY"]` (override for a
        shop that sells in more than one currency)."""
        return app_settings.CURRENCY

    def format_price(self, product: models.Model, price: Any) -> str | None:
        """The price as the card shows it, in the active language (None: no price shown).

        The default is the amount in the locale's number format with `currency`'s symbol
        (`recommendations/prices.py`); override it to format prices the shop's own way.
        """
        if price is None:
            return None
        return format_amount(price, self.currency(product))

    def purchased_item_ids(self, user_id: int) -> set[str]:
        """Wire ids of what the user with this primary key already bought (never recommended).

        Always a primary key, never a user object, like every `user_id` here (tasks and
        prefetching have only the key).
        """
        return set()

    def purchased_item_ids_for(self, user_ids: Iterable[int]) -> dict[int, set[str]]:
        """`purchased_item_ids` for many users at once (override with one query)."""
        return {user_id: self.purchased_item_ids(user_id) for user_id in user_ids}

    def hidden_items(self, user_id: int) -> dict[str, float | None]:
        """What this user may not be shown: wire id -> until when (seconds since the epoch), None
        for good. The one rule of what may be shown (`serving/visibility.py`): by default what
        the user bought, for good. Add to it here, e.g. what they viewed in the last hour:
        `{**super().hidden_items(user_id), **{item: viewed_at + 3600 for ...}}`."""
        return dict.fromkeys(self.purchased_item_ids(user_id))

    def hidden_items_for(self, user_ids: Iterable[int]) -> dict[int, dict[str, float | None]]:
        """`hidden_items` for many users at once (a prefetch batch): from `purchased_item_ids_for`
        (one query in an adapter that overrides it) while `hidden_items` is the default, else
        `hidden_items` user by user (override this too to answer in one query)."""
        if type(self).hidden_items is not CatalogAdapter.hidden_items:
            return {user_id: self.hidden_items(user_id) for user_id in user_ids}
        return {
            user_id: dict.fromkeys(bought)
            for user_id, bought in self.purchased_item_ids_for(user_ids).items()
        }

    def recent_item_ids(self, user_id: int, limit: int) -> list[str]:
        """Wire ids of the items the user interacted with most recently, newest first."""
        return []

    def user_history(self, user_id: int, recent_limit: int) -> UserHistory:
        """Recent and purchased items together; override to answer in one query (a page's budget)."""
        return UserHistory(
            recent=self.recent_item_ids(user_id, recent_limit),
            purchased=self.purchased_item_ids(user_id),
        )

    def active_user_ids(self, since: datetime) -> list[int]:
        """Primary keys of users active since the given time."""
        return []

    def active_user_id_page(self, since: datetime, after: int, limit: int) -> list[int]:
        """Up to `limit` users active since `since` with a primary key above `after`, ascending.

        The prefetch fan-out reads active users one page at a time. This default filters
        `active_user_ids`, which holds them all in memory: a big shop overrides it with one
        keyset query per page (`WHERE user_id > after ORDER BY user_id LIMIT limit`).
        """
        return sorted(pk for pk in self.active_user_ids(since) if pk > after)[:limit]

    def item_categories(self) -> dict[int, Any]:
        """Product pk -> category key, for per-category popularity."""
        return {}

    def interaction_chunks(
        self, since: datetime | None = None, chunk_size: int = 100_000
    ) -> Iterator[InteractionChunk]:
        """The interaction history (purchases, views) in chunks of numpy arrays."""
        return iter(())

    def interaction_chunks_after(
        self, after_id: int, chunk_size: int = 100_000
    ) -> Iterator[KeyedInteractionChunk]:
        """Interactions whose id is greater than `after_id`, in id order (the incremental export).

        An id is a number that grows as interactions are recorded (an order line's primary key),
        so that "everything after the last id exported" is exactly what is new. Timestamps are the
        time of the interaction; the export leaves out rows too recent to be sure that no row with
        a smaller id is still being committed (see `recommendations/export/run.py`).
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not implement interaction_chunks_after(); the incremental "
            "export needs it (see recommendations.catalog.CatalogAdapter)"
        )


@lru_cache(maxsize=8)
def _adapter_class(path: str) -> type[CatalogAdapter]:
    return import_string(path)


def get_catalog() -> CatalogAdapter:
    """The configured catalog adapter (`RECOMMENDATIONS["CATALOG"]`)."""
    return _adapter_class(app_settings.CATALOG)()
