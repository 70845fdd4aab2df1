"""The demo data set as numpy arrays: no database, deterministic by seed.

Orders come from latent tastes (demo_tastes.py): each customer mixes one to `max_tastes` topics,
and a topic is a group of products from several categories. Item popularity has a long tail,
customers buy consumables again, and some products are followed by another in the buyer's next
order. Tastes are fixed over time, so a model trained on the past predicts the future.
Timestamps are whole seconds before "now", so the same seed gives the same data whenever it runs.
"""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from . import demo_orders, demo_purchases, demo_tastes
from .demo_catalog import CategoryRow, assign_categories, prices, product_texts, stock_levels
from .demo_orders import HISTORY_SECONDS, order_of_lines
from .demo_tastes import LatentTastes
from .demo_vocabulary import THEMES

DAY = 86_400
QUANTITIES = np.array([1, 2, 3])
QUANTITY_WEIGHTS = np.array([0.85, 0.11, 0.04])

__all__ = ["HISTORY_SECONDS", "DemoData", "DemoDataError", "DemoParameters", "DemoSize", "generate"]


class DemoDataError(ValueError):
    """The requested size makes no sense; the message says which flag and why."""


@dataclass(frozen=True)
class DemoParameters:
    """Everything that decides the demo data: its size, its seed and how customers behave.

    The behaviour parameters are the generator's assumptions, not tuned towards any model; the
    defaults are documented with their meaning in docs/demo-data.md.
    """

    products: int = 500
    categories: int = 12
    customers: int = 2_000
    lines: int = 30_000  # order lines in all
    seed: int = 42
    topic_size: int = 25  # products per latent taste (topic), on average; sets the topic count
    categories_per_topic: int = 3  # how many categories one topic draws its products from
    second_topic_share: float = 0.3  # products that belong to a second topic as well
    max_tastes: int = 3  # a customer mixes 1..max_tastes topics (uniformly many), random weights
    taste_share: float = 0.8  # lines from the customer's tastes; the rest anywhere, by popularity
    popularity_exponent: float = 1.0  # Zipf exponent of item popularity: larger, longer tail
    repeat_share: float = 0.2  # chance a line buys again a consumable the customer bought before
    follow_up_share: float = 0.2  # products that have a follow-up product in the same topic
    follow_up_rate: float = 0.4  # chance a buyer of such a product buys its follow-up next order

    def scaled(self, factor: float) -> "DemoParameters":
        """The same catalog with `factor` times the customers and order lines."""
        if not factor > 0:
            raise DemoDataError(f"--scale must be greater than 0 (got {factor}).")
        return replace(
            self,
            customers=round(self.customers * factor),
            lines=round(self.lines * factor),
        )

    def validate(self) -> None:
        """Raise DemoDataError naming the first flag that makes no sense."""
        for flag, value in (
            ("products", self.products),
            ("categories", self.categories),
            ("customers", self.customers),
            ("lines", self.lines),
            ("topic-size", self.topic_size),
            ("categories-per-topic", self.categories_per_topic),
            ("max-tastes", self.max_tastes),
        ):
            if value < 1:
                raise DemoDataError(f"--{flag} must be at least 1 (got {value}).")
        if self.categories > len(THEMES):
            raise DemoDataError(
                f"--categories must be at most {len(THEMES)}, the number of category themes "
                f"there are word lists for (got {self.categories})."
            )
        if self.categories > self.products:
            raise DemoDataError(
                f"--categories ({self.categories}) cannot exceed --products ({self.products}): "
                "every category needs at least one product."
            )
        if self.seed < 0:
            raise DemoDataError(f"--seed must be 0 or more (got {self.seed}).")
        for flag, share in (
            ("second-topic-share", self.second_topic_share),
            ("taste-share", self.taste_share),
            ("repeat-share", self.repeat_share),
            ("follow-up-share", self.follow_up_share),
            ("follow-up-rate", self.follow_up_rate),
        ):
            if not 0.0 <= share <= 1.0:
                raise DemoDataError(f"--{flag} must be between 0 and 1 (got {share}).")
        if not self.popularity_exponent >= 0:
            raise DemoDataError(
                f"--popularity-exponent must be 0 or more (got {self.popularity_exponent})."
            )

    @property
    def topics(self) -> int:
        """How many latent tastes: enough for `topic_size` products each (some are in two)."""
        return max(1, round(self.products * (1 + self.second_topic_share) / self.topic_size))

    def as_record(self) -> dict[str, Any]:
        """The parameters as JSON-ready values, to store beside the data they made."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "DemoParameters":
        """The parameters stored by `as_record`; keys this version does not know are ignored."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in record.items() if key in known})


DemoSize = DemoParameters  # the name callers used before the behaviour parameters existed


@dataclass(frozen=True)
class DemoData:
    """Everything seed_demo writes; products, customers and orders are referred to by index."""

    categories: list[CategoryRow]
    product_names: list[str]
    product_slugs: list[str]
    product_descriptions: list[str]
    product_category: np.ndarray  # index into categories
    product_price_cents: np.ndarray
    product_stock: np.ndarray
    product_active: np.ndarray
    customer_joined_seconds_ago: np.ndarray
    order_customer: np.ndarray  # index into customers; orders are in chronological order
    order_seconds_ago: np.ndarray
    order_first_line: np.ndarray  # lines of order i: order_first_line[i]:order_first_line[i + 1]
    line_product: np.ndarray
    line_quantity: np.ndarray
    tastes: LatentTastes  # what the orders were drawn from (never written to the database)

    @property
    def line_order(self) -> np.ndarray:
        """The order index of every line."""
        return order_of_lines(self.order_first_line)

    def order_total_cents(self) -> np.ndarray:
        """Each order's total in cents."""
        line_cents = self.line_quantity * self.product_price_cents[self.line_product]
        totals = np.bincount(
            self.line_order, weights=line_cents, minlength=len(self.order_customer)
        )
        return np.rint(totals).astype(np.int64)


def generate(params: DemoParameters) -> DemoData:
    """Make the demo data set; the same parameters and seed always give the same data."""
    params.validate()
    catalog_seed, customer_seed, order_seed = np.random.SeedSequence(params.seed).spawn(3)
    # Separate streams: asking for more lines does not change the catalog or the customers.
    catalog_rng = np.random.default_rng(catalog_seed)
    customer_rng = np.random.default_rng(customer_seed)
    order_rng = np.random.default_rng(order_seed)

    categories, product_category = assign_categories(
        params.products, params.categories, catalog_rng
    )
    names, slugs, descriptions = product_texts(params.categories, product_category, catalog_rng)
    price_cents = prices(product_category, catalog_rng)
    stock, active = stock_levels(params.products, catalog_rng)
    tastes = _latent_tastes(params, product_category, catalog_rng, customer_rng)
    draws = demo_purchases.draws_for(tastes, params.taste_share)
    joined = customer_rng.integers(14 * DAY, HISTORY_SECONDS + 90 * DAY, size=params.customers)

    customer_lines = demo_orders.lines_per_customer(params.customers, params.lines, customer_rng)
    line_customer = np.repeat(np.arange(params.customers), customer_lines)
    order_first_line = demo_orders.order_boundaries(customer_lines, params.products, order_rng)
    order_customer = line_customer[order_first_line[:-1]]
    order_seconds_ago = demo_orders.order_times(order_customer, joined, order_first_line, order_rng)

    line_product = demo_purchases.draw_products(line_customer, draws, order_rng)
    # Only consumables are bought again: a durable the customer already has is redrawn.
    durable = ~tastes.consumable
    line_product, _ = demo_purchases.redraw_duplicates(
        line_product, line_customer, line_customer, draws, durable, order_rng
    )
    line_product = demo_purchases.plant_follow_ups(
        line_product, order_customer, order_first_line, tastes, params.follow_up_rate, order_rng
    )
    line_product = demo_purchases.add_repeat_purchases(
        line_product, line_customer, order_first_line, tastes, params.repeat_share, order_rng
    )
    line_order = order_of_lines(order_first_line)
    everything = np.ones(params.products, dtype=bool)
    line_product, duplicated = demo_purchases.redraw_duplicates(
        line_product, line_customer, line_order, draws, everything, order_rng
    )
    keep = ~duplicated
    quantities = order_rng.choice(QUANTITIES, size=len(line_product), p=QUANTITY_WEIGHTS)
    if not keep.all():
        line_product, quantities = line_product[keep], quantities[keep]
        line_order = order_of_lines(order_first_line)[keep]
        order_first_line = np.append(
            np.searchsorted(line_order, np.arange(len(order_customer))), len(line_order)
        )

    order, order_first_line, line_index = demo_orders.chronological_order(
        order_seconds_ago, order_first_line
    )
    data = DemoData(
        categories=categories,
        product_names=names,
        product_slugs=slugs,
        product_descriptions=descriptions,
        product_category=product_category,
        product_price_cents=price_cents,
        product_stock=stock,
        product_active=active,
        customer_joined_seconds_ago=joined,
        order_customer=order_customer[order],
        order_seconds_ago=order_seconds_ago[order],
        order_first_line=order_first_line,
        line_product=line_product[line_index],
        line_quantity=quantities[line_index],
        tastes=tastes,
    )
    return _catalog_shuffled(data, catalog_rng)


def _latent_tastes(
    params: DemoParameters,
    product_category: np.ndarray,
    catalog_rng: np.random.Generator,
    customer_rng: np.random.Generator,
) -> LatentTastes:
    members = demo_tastes.topic_members(
        product_category,
        params.categories,
        params.topics,
        params.categories_per_topic,
        params.second_topic_share,
        catalog_rng,
    )
    popularity = demo_tastes.zipf_weights(params.products, params.popularity_exponent, catalog_rng)
    consumable = demo_tastes.consumables(product_category, catalog_rng)
    follow_up = demo_tastes.follow_ups(members, params.follow_up_share, catalog_rng)
    customer_topics, customer_weights = demo_tastes.customer_tastes(
        params.customers, members.any(axis=1), params.max_tastes, customer_rng
    )
    return LatentTastes(
        topic_members=members,
        item_popularity=popularity,
        consumable=consumable,
        follow_up=follow_up,
        customer_topics=customer_topics,
        customer_weights=customer_weights,
    )


def _catalog_shuffled(data: DemoData, rng: np.random.Generator) -> DemoData:
    """Mix the categories in the product list, so that "new in the shop" is not one category."""
    order = rng.permutation(len(data.product_names))
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))
    return replace(
        data,
        product_names=[data.product_names[i] for i in order],
        product_slugs=[data.product_slugs[i] for i in order],
        product_descriptions=[data.product_descriptions[i] for i in order],
        product_category=data.product_category[order],
        product_price_cents=data.product_price_cents[order],
        product_stock=data.product_stock[order],
        product_active=data.product_active[order],
        line_product=new_index[data.line_product],
        tastes=data.tastes.reindexed(new_index),
    )
