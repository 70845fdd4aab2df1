"""The demo data set as numpy arrays: no database, deterministic by seed.

Customers have one to three favourite categories that most of their lines come from (fixed over
time, so a model trained on the past predicts the future), items within a category have a
long-tailed (Zipf-like) popularity, and customers sometimes buy again what they bought before.
Timestamps are whole seconds before "now", so the same seed gives the same data whenever it runs.
"""

from dataclasses import dataclass, replace

import numpy as np

from .demo_catalog import CategoryRow, assign_categories, prices, product_texts, stock_levels
from .demo_vocabulary import THEMES

DAY = 86_400
HISTORY_SECONDS = 182 * DAY  # orders are spread over the last ~6 months
ORDER_SIZES = np.array([1, 2, 3, 4])
ORDER_SIZE_WEIGHTS = np.array([0.45, 0.30, 0.15, 0.10])
QUANTITIES = np.array([1, 2, 3])
QUANTITY_WEIGHTS = np.array([0.85, 0.11, 0.04])
FAVOURITE_COUNT_WEIGHTS = np.array([0.35, 0.40, 0.25])  # one, two or three favourite categories
LOYALTY_BETA = (7.5, 2.5)  # share of a customer's lines from their favourites: mean 0.75
REPEAT_SHARE = 0.12  # lines that buy again something from one of the customer's earlier orders
ITEM_ZIPF_EXPONENT = 1.1
CATEGORY_ZIPF_EXPONENT = 0.6


class DemoDataError(ValueError):
    """The requested size makes no sense; the message says which flag and why."""


@dataclass(frozen=True)
class DemoSize:
    """How much data to make, and the seed that makes it reproducible."""

    products: int = 500
    categories: int = 12
    customers: int = 2_000
    lines: int = 30_000
    seed: int = 42

    def scaled(self, factor: float) -> "DemoSize":
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

    @property
    def line_order(self) -> np.ndarray:
        """The order index of every line."""
        return _order_of_lines(self.order_first_line)

    def order_total_cents(self) -> np.ndarray:
        """Each order's total in cents."""
        line_cents = self.line_quantity * self.product_price_cents[self.line_product]
        totals = np.bincount(
            self.line_order, weights=line_cents, minlength=len(self.order_customer)
        )
        return np.rint(totals).astype(np.int64)


@dataclass(frozen=True)
class _Tastes:
    favourites: np.ndarray  # (customers, 3) category indices; unused slots repeat slot 0
    cumulative_weights: np.ndarray  # (customers, 3) cumulative weight of each favourite slot
    favourite_count: np.ndarray
    loyalty: np.ndarray
    category_weights: np.ndarray  # the whole shop's category popularity
    item_keys: np.ndarray  # category + cumulative popularity within it, increasing per product


def generate(size: DemoSize) -> DemoData:
    """Make the demo data set for `size`; the same size and seed always give the same data."""
    size.validate()
    catalog_seed, customer_seed, order_seed = np.random.SeedSequence(size.seed).spawn(3)
    # Separate streams: asking for more lines does not change the catalog or the customers.
    catalog_rng = np.random.default_rng(catalog_seed)
    customer_rng = np.random.default_rng(customer_seed)
    order_rng = np.random.default_rng(order_seed)

    categories, product_category = assign_categories(size.products, size.categories, catalog_rng)
    names, slugs, descriptions = product_texts(size.categories, product_category, catalog_rng)
    price_cents = prices(product_category, catalog_rng)
    stock, active = stock_levels(size.products, catalog_rng)
    tastes = _tastes(size, product_category, catalog_rng, customer_rng)
    joined = customer_rng.integers(14 * DAY, HISTORY_SECONDS + 90 * DAY, size=size.customers)

    lines_per_customer = _lines_per_customer(size, customer_rng)
    line_customer = np.repeat(np.arange(size.customers), lines_per_customer)
    order_first_line = _order_boundaries(lines_per_customer, size.products, order_rng)
    order_customer = line_customer[order_first_line[:-1]]
    order_seconds_ago = _order_times(order_customer, joined, order_first_line, order_rng)

    line_product = _draw_products(line_customer, tastes, order_rng)
    line_product = _add_repeat_purchases(line_product, line_customer, order_first_line, order_rng)
    line_product, keep = _dedupe_within_orders(
        line_product, line_customer, order_first_line, tastes, order_rng
    )
    quantities = order_rng.choice(QUANTITIES, size=len(line_product), p=QUANTITY_WEIGHTS)
    if not keep.all():
        line_product, quantities = line_product[keep], quantities[keep]
        line_order = _order_of_lines(order_first_line)[keep]
        order_first_line = np.append(
            np.searchsorted(line_order, np.arange(len(order_customer))), len(line_order)
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
        order_customer=order_customer,
        order_seconds_ago=order_seconds_ago,
        order_first_line=order_first_line,
        line_product=line_product,
        line_quantity=quantities,
    )
    return _in_chronological_order(_catalog_shuffled(data, catalog_rng))


def _zipf_weights(count: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Long-tailed weights in a random order: the most popular one is anywhere in the list."""
    ranks = rng.permutation(count)
    weights = 1.0 / (ranks + 1.0) ** exponent
    return weights / weights.sum()


def _tastes(
    size: DemoSize,
    product_category: np.ndarray,
    catalog_rng: np.random.Generator,
    customer_rng: np.random.Generator,
) -> _Tastes:
    category_weights = _zipf_weights(size.categories, CATEGORY_ZIPF_EXPONENT, catalog_rng)
    item_keys = np.empty(size.products)
    for category in range(size.categories):
        members = np.flatnonzero(product_category == category)
        cumulative = np.cumsum(_zipf_weights(len(members), ITEM_ZIPF_EXPONENT, catalog_rng))
        cumulative[-1] = 1.0  # exact, so the keys of the next category start above it
        item_keys[members] = category + cumulative

    slots = min(3, size.categories)
    favourite_count = customer_rng.choice(
        np.arange(1, 4)[:slots],
        size=size.customers,
        p=FAVOURITE_COUNT_WEIGHTS[:slots] / FAVOURITE_COUNT_WEIGHTS[:slots].sum(),
    )
    # Gumbel top-k: favourites drawn without replacement, popular categories more often.
    keys = np.log(category_weights) + customer_rng.gumbel(size=(size.customers, size.categories))
    favourites = np.argsort(-keys, axis=1)[:, :slots]
    weights = customer_rng.dirichlet(np.full(slots, 2.0), size=size.customers)
    weights[np.arange(slots) >= favourite_count[:, None]] = 0.0
    weights = -np.sort(-weights, axis=1)  # slot 0 is the top favourite
    weights /= weights.sum(axis=1, keepdims=True)
    if slots < 3:
        pad = 3 - slots
        favourites = np.pad(favourites, ((0, 0), (0, pad)), mode="edge")
        weights = np.pad(weights, ((0, 0), (0, pad)))
    loyalty = customer_rng.beta(*LOYALTY_BETA, size=size.customers)
    return _Tastes(
        favourites=favourites,
        cumulative_weights=np.cumsum(weights, axis=1),
        favourite_count=favourite_count,
        loyalty=loyalty,
        category_weights=category_weights,
        item_keys=item_keys,
    )


def _lines_per_customer(size: DemoSize, rng: np.random.Generator) -> np.ndarray:
    activity = rng.lognormal(0.0, 0.9, size=size.customers)
    activity /= activity.sum()
    if size.lines >= size.customers:
        # Everyone has bought at least once; the rest follows a skewed activity level.
        return 1 + rng.multinomial(size.lines - size.customers, activity)
    return rng.multinomial(size.lines, activity)


def _order_boundaries(
    lines_per_customer: np.ndarray, products: int, rng: np.random.Generator
) -> np.ndarray:
    """Index of each order's first line, plus the total, cutting lines into orders of 1-4."""
    total = int(lines_per_customer.sum())
    largest = min(len(ORDER_SIZES), products)  # an order never holds the same product twice
    weights = ORDER_SIZE_WEIGHTS[:largest] / ORDER_SIZE_WEIGHTS[:largest].sum()
    sizes = rng.choice(ORDER_SIZES[:largest], size=total, p=weights)
    ends = np.cumsum(sizes)
    starts = np.zeros(total, dtype=bool)
    starts[0] = True
    starts[ends[ends < total]] = True
    # A customer's first line always starts an order: orders never mix customers.
    customer_starts = np.cumsum(lines_per_customer)[:-1]
    starts[customer_starts[customer_starts < total]] = True
    return np.append(np.flatnonzero(starts), total)


def _order_of_lines(order_first_line: np.ndarray) -> np.ndarray:
    lengths = np.diff(order_first_line)
    return np.repeat(np.arange(len(lengths)), lengths)


def _order_times(
    order_customer: np.ndarray,
    joined_seconds_ago: np.ndarray,
    order_first_line: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Seconds before now of each order; a customer's orders are oldest first."""
    window = np.minimum(joined_seconds_ago, HISTORY_SECONDS)[order_customer]
    seconds_ago = rng.integers(0, window)
    # Orders of one customer are contiguous: sort within each customer, oldest (largest) first.
    order = np.lexsort((-seconds_ago, order_customer))
    return seconds_ago[order]


def _draw_products(
    line_customer: np.ndarray, tastes: _Tastes, rng: np.random.Generator
) -> np.ndarray:
    count = len(line_customer)
    from_favourite = rng.random(count) < tastes.loyalty[line_customer]
    slot = (rng.random(count)[:, None] >= tastes.cumulative_weights[line_customer]).sum(axis=1)
    slot = np.minimum(slot, tastes.favourite_count[line_customer] - 1)
    favourite = tastes.favourites[line_customer, slot]
    anywhere = rng.choice(len(tastes.category_weights), size=count, p=tastes.category_weights)
    category = np.where(from_favourite, favourite, anywhere)
    # item_keys run from k to k + 1 inside category k, so one search picks a product by popularity.
    return np.searchsorted(tastes.item_keys, category + rng.random(count), side="right")


def _add_repeat_purchases(
    line_product: np.ndarray,
    line_customer: np.ndarray,
    order_first_line: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    count = len(line_product)
    customer_first_line = np.searchsorted(line_customer, line_customer, side="left")
    order_start = order_first_line[:-1][_order_of_lines(order_first_line)]
    earlier = order_start - customer_first_line  # lines in this customer's earlier orders
    repeat = (rng.random(count) < REPEAT_SHARE) & (earlier > 0)
    source = np.arange(count)
    source[repeat] = customer_first_line[repeat] + (
        rng.random(int(repeat.sum())) * earlier[repeat]
    ).astype(np.int64)
    # A source can itself be a repeat; follow the pointers until they stop moving.
    while True:
        followed = source[source]
        if np.array_equal(followed, source):
            break
        source = followed
    return line_product[source]


def _duplicates(line_product: np.ndarray, line_order: np.ndarray, products: int) -> np.ndarray:
    key = line_order.astype(np.int64) * products + line_product
    order = np.argsort(key, kind="stable")
    repeated = np.zeros(len(key), dtype=bool)
    repeated[order[1:]] = key[order[1:]] == key[order[:-1]]
    return repeated


def _dedupe_within_orders(
    line_product: np.ndarray,
    line_customer: np.ndarray,
    order_first_line: np.ndarray,
    tastes: _Tastes,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Redraw products that appear twice in one order; drop the few that stay duplicated."""
    line_product = line_product.copy()
    line_order = _order_of_lines(order_first_line)
    products = len(tastes.item_keys)
    for _attempt in range(20):
        repeated = _duplicates(line_product, line_order, products)
        if not repeated.any():
            break
        line_product[repeated] = _draw_products(line_customer[repeated], tastes, rng)
    return line_product, ~_duplicates(line_product, line_order, products)


def _in_chronological_order(data: DemoData) -> DemoData:
    """Reorder orders (and their lines) oldest first, so order ids grow with time as in a real shop."""
    order = np.argsort(-data.order_seconds_ago, kind="stable")
    lengths = np.diff(data.order_first_line)[order]
    starts = data.order_first_line[:-1][order]
    new_first = np.concatenate(([0], np.cumsum(lengths)))
    line_index = np.repeat(starts - new_first[:-1], lengths) + np.arange(int(lengths.sum()))
    return replace(
        data,
        order_customer=data.order_customer[order],
        order_seconds_ago=data.order_seconds_ago[order],
        order_first_line=new_first,
        line_product=data.line_product[line_index],
        line_quantity=data.line_quantity[line_index],
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
    )
