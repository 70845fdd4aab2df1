"""What a simulated shopper likes: the latent tastes seed_demo drew their orders from, and the
generator's chance that a product is their next purchase.

seed_demo records its parameters (models.DemoSeed); the generator is deterministic, so the same
parameters rebuild the same catalogue, customers and tastes, which are matched to the database by
product slug and customer username. A shop seeded otherwise (no record, or a catalogue that no
longer matches) falls back to each customer's most bought categories, with a warning.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Protocol

import numpy as np
from django.db.models import Sum

from demo_shop.catalog.models import Product
from demo_shop.orders.models import OrderLine

from .demo_data import DemoData, DemoDataError, DemoParameters, generate
from .demo_loader import SEEDED_USERNAME_PREFIX
from .demo_purchases import draws_for, next_line_chances
from .models import DemoSeed

logger = logging.getLogger(__name__)

FALLBACK_FAVOURITES = 2  # categories that count as a shopper's tastes without a seed record


class Tastes(Protocol):
    """How well products suit a customer."""

    kind: str

    def fit(self, user_id: int, item_ids: list[int]) -> list[float]:
        """0..1 for each product: 1 is squarely in the customer's tastes, 0 is not at all."""
        ...

    def next_purchase(self, user_id: int, item_ids: list[int]) -> list[float] | None:
        """The generator's chance that each product is the customer's next purchase; None when
        these tastes have no generator behind them."""
        ...


class LatentShopperTastes:
    """The generator's own tastes: topic mixture, plus the follow-ups of what the customer bought."""

    kind = "latent"

    def __init__(
        self,
        data: DemoData,
        product_index: dict[int, int],
        users: dict[int, int],
        parameters: DemoParameters | None = None,
    ):
        self.data = data
        self.product_index = product_index  # product pk -> generator index
        self.users = users  # user pk -> generator customer index
        self.parameters = parameters or DemoParameters()
        self.draws = draws_for(data.tastes, self.parameters.taste_share)
        self.next_chances: dict[int, np.ndarray] = {}  # generator customer -> chances, lazily
        customers = len(data.customer_joined_seconds_ago)
        line_customer = data.order_customer[data.line_order]
        # Orders are oldest first: each customer's lines in order (a stable sort keeps it), and
        # their newest order (the largest index).
        per_customer = np.cumsum(np.bincount(line_customer, minlength=customers))[:-1]
        by_customer = data.line_product[np.argsort(line_customer, kind="stable")]
        self.lines_of = np.split(by_customer, per_customer)
        self.last_order_of = np.full(customers, -1, dtype=np.int64)
        np.maximum.at(self.last_order_of, data.order_customer, np.arange(len(data.order_customer)))
        follow_up = data.tastes.follow_up[data.line_product]
        has = follow_up >= 0
        self.follow_ups: dict[int, set[int]] = defaultdict(set)
        for customer, product in zip(
            line_customer[has].tolist(), follow_up[has].tolist(), strict=True
        ):
            self.follow_ups[customer].add(product)

    def fit(self, user_id: int, item_ids: list[int]) -> list[float]:
        """Topic fit of each product; a follow-up of something the customer bought fits fully."""
        customer = self.users.get(user_id)
        if customer is None:
            return [0.0] * len(item_ids)
        known = np.array([self.product_index.get(item, -1) for item in item_ids], dtype=np.int64)
        scores = np.zeros(len(known))
        found = known >= 0
        scores[found] = self.data.tastes.fit(customer, known[found])
        follow_ups = self.follow_ups.get(customer, set())
        scores[[index in follow_ups for index in known.tolist()]] = 1.0
        return scores.tolist()

    def next_purchase(self, user_id: int, item_ids: list[int]) -> list[float]:
        """The generator's chance that each product is one line of the customer's next order
        (`demo_purchases.next_line_chances`, given the orders seed_demo drew for them); 0 for a
        product or customer the generator does not know."""
        customer = self.users.get(user_id)
        if customer is None:
            return [0.0] * len(item_ids)
        chances = self.next_chances.get(customer)
        if chances is None:
            chances = self.next_chances[customer] = self._chances_of(customer)
        return [
            float(chances[index]) if index >= 0 else 0.0
            for index in (self.product_index.get(item, -1) for item in item_ids)
        ]

    def _chances_of(self, customer: int) -> np.ndarray:
        data, order = self.data, self.last_order_of[customer]
        if order >= 0:
            last_order = data.line_product[
                data.order_first_line[order] : data.order_first_line[order + 1]
            ]
        else:
            last_order = np.empty(0, dtype=np.int64)
        return next_line_chances(
            self.draws,
            customer,
            self.lines_of[customer],
            last_order,
            self.parameters.repeat_share,
            self.parameters.follow_up_rate,
        )


class CategoryShopperTastes:
    """Without a seed record: the customer's most bought categories fit, nothing else does."""

    kind = "categories"

    def __init__(self, favourites: dict[int, set[int]], category_of: dict[int, int]):
        self.favourites = favourites
        self.category_of = category_of

    def fit(self, user_id: int, item_ids: list[int]) -> list[float]:
        """1.0 for products in the customer's favourite categories, else 0.0."""
        tastes = self.favourites.get(user_id, set())
        return [float(self.category_of.get(item) in tastes) for item in item_ids]

    def next_purchase(self, user_id: int, item_ids: list[int]) -> None:
        """No generator behind these tastes: None."""
        return None


def favourite_categories(user_ids: Iterable[int], count: int) -> dict[int, set[int]]:
    """Each customer's `count` most bought categories (by quantity), in one query."""
    totals: dict[int, Counter] = defaultdict(Counter)
    rows = (
        OrderLine.objects.filter(order__user_id__in=list(user_ids))
        .values_list("order__user_id", "product__category_id")
        .annotate(quantity=Sum("quantity"))
        .order_by()
    )
    for user_id, category_id, quantity in rows:
        totals[user_id][category_id] += quantity
    return {
        user_id: {category for category, _ in counter.most_common(count)}
        for user_id, counter in totals.items()
    }


def latent_tastes(customers: list) -> LatentShopperTastes:
    """The recorded seed's tastes; DemoDataError says why they cannot be rebuilt."""
    record = DemoSeed.objects.order_by("-created_at", "-pk").first()
    if record is None:
        raise DemoDataError("no seed_demo record in the database")
    parameters = DemoParameters.from_record(record.parameters)
    data = generate(parameters)
    pk_of_slug = dict(Product.objects.values_list("slug", "pk"))
    missing = [slug for slug in data.product_slugs if slug not in pk_of_slug]
    if missing:
        raise DemoDataError(f"{len(missing)} seeded products are not in the catalogue")
    product_index = {pk_of_slug[slug]: index for index, slug in enumerate(data.product_slugs)}
    users: dict[int, int] = {}
    for customer in customers:
        number = customer.username.removeprefix(SEEDED_USERNAME_PREFIX)
        if number.isdigit() and 1 <= int(number) <= len(data.customer_joined_seconds_ago):
            users[customer.pk] = int(number) - 1
    return LatentShopperTastes(data, product_index, users, parameters)


def shopper_tastes(customers: list) -> Tastes:
    """The latent tastes of the recorded seed, or the most-bought-categories stand-in."""
    try:
        return latent_tastes(customers)
    except DemoDataError as error:
        logger.warning(
            "Shoppers click by their most bought categories: %s (run seed_demo --reset)",
            error,
            extra={"reason": str(error)},
        )
    favourites = favourite_categories([c.pk for c in customers], FALLBACK_FAVOURITES)
    return CategoryShopperTastes(favourites, dict(Product.objects.values_list("pk", "category_id")))
