"""Which product each order line of the demo buys: drawn from the latent tastes, with follow-ups
in the next order, consumables bought again, and no durable bought twice when avoidable."""

from dataclasses import dataclass

import numpy as np

from . import demo_orders
from .demo_orders import order_of_lines
from .demo_tastes import LatentTastes


@dataclass(frozen=True)
class Draws:
    """Lookup tables that turn uniform numbers into products, built once per data set."""

    tastes: LatentTastes
    topic_keys: np.ndarray  # per (topic, member) entry: topic + cumulative popularity within it
    entry_product: np.ndarray  # the product of each entry
    popularity_cdf: np.ndarray
    taste_share: float

    def topic_entries(self, topic: int) -> tuple[np.ndarray, np.ndarray]:
        """The products of `topic` and the chance `draw_products` picks each within the topic.

        The topic's keys run from `topic` to `topic + 1`; a uniform number lands on an entry
        with the chance of the gap below its key, which is that entry's share."""
        low, high = np.searchsorted(self.topic_keys, [topic, topic + 1], side="right")
        keys = self.topic_keys[low:high]
        return self.entry_product[low:high], np.diff(keys, prepend=float(topic))

    def line_chances(self, customer: int) -> np.ndarray:
        """The chance that `draw_products` gives each product for one line of `customer`."""
        tastes = self.tastes
        chances = (1.0 - self.taste_share) * np.diff(self.popularity_cdf, prepend=0.0)
        topics = tastes.customer_topics[customer].tolist()
        weights = tastes.customer_weights[customer].tolist()
        for topic, weight in zip(topics, weights, strict=True):
            if weight > 0:
                products, shares = self.topic_entries(topic)
                chances[products] += self.taste_share * weight * shares
        return chances


def draws_for(tastes: LatentTastes, taste_share: float) -> Draws:
    """The lookup tables that draw products for `tastes`."""
    entry_topic, entry_product = np.nonzero(tastes.topic_members)  # sorted by topic
    weight = tastes.item_popularity[entry_product]
    topic_total = np.bincount(entry_topic, weights=weight, minlength=len(tastes.topic_members))
    cumulative = np.cumsum(weight)
    first = np.searchsorted(entry_topic, entry_topic, side="left")  # each topic's first entry
    within = (cumulative - cumulative[first] + weight[first]) / topic_total[entry_topic]
    last = np.append(entry_topic[1:] != entry_topic[:-1], True)
    within[last] = 1.0  # exact, so the keys of the next topic start above it
    popularity_cdf = np.cumsum(tastes.item_popularity)
    popularity_cdf[-1] = 1.0
    return Draws(
        tastes=tastes,
        topic_keys=entry_topic + within,
        entry_product=entry_product,
        popularity_cdf=popularity_cdf,
        taste_share=taste_share,
    )


def draw_products(line_customer: np.ndarray, draws: Draws, rng: np.random.Generator) -> np.ndarray:
    """A product per line: from one of the customer's topics, or anywhere by popularity."""
    tastes, count = draws.tastes, len(line_customer)
    cumulative = np.cumsum(tastes.customer_weights[line_customer], axis=1)
    slot = (rng.random(count)[:, None] >= cumulative).sum(axis=1)
    # Rounding can push the slot past the last used one; unused slots repeat slot 0's topic.
    slot = np.minimum(slot, cumulative.shape[1] - 1)
    topic = tastes.customer_topics[line_customer, slot]
    # topic_keys run from t to t + 1 inside topic t, so one search picks a member by popularity.
    entry = np.searchsorted(draws.topic_keys, topic + rng.random(count), side="right")
    in_taste = draws.entry_product[np.minimum(entry, len(draws.entry_product) - 1)]
    anywhere = np.searchsorted(draws.popularity_cdf, rng.random(count), side="right")
    from_taste = rng.random(count) < draws.taste_share
    return np.where(from_taste, in_taste, np.minimum(anywhere, len(draws.popularity_cdf) - 1))


def plant_follow_ups(
    line_product: np.ndarray,
    order_customer: np.ndarray,
    order_first_line: np.ndarray,
    tastes: LatentTastes,
    rate: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Put the follow-up of a product into a line of the same customer's next order."""
    line_product = line_product.copy()
    line_order = order_of_lines(order_first_line)
    follow_up = tastes.follow_up[line_product]
    next_order = np.minimum(line_order + 1, len(order_customer) - 1)
    # A customer's orders are contiguous and oldest first, so their next order is the next index.
    has_next = (line_order + 1 < len(order_customer)) & (
        order_customer[next_order] == order_customer[line_order]
    )
    planted = (follow_up >= 0) & has_next & (rng.random(len(line_product)) < rate)
    target_order = next_order[planted]
    size = order_first_line[target_order + 1] - order_first_line[target_order]
    target = order_first_line[target_order] + (rng.random(len(target_order)) * size).astype(
        np.int64
    )
    line_product[target] = follow_up[planted]
    return line_product


def add_repeat_purchases(
    line_product: np.ndarray,
    line_customer: np.ndarray,
    order_first_line: np.ndarray,
    tastes: LatentTastes,
    share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """With chance `share`, a line buys again a consumable from one of the customer's earlier orders."""
    count = len(line_product)
    consumable = tastes.consumable[line_product]
    before = np.concatenate(([0], np.cumsum(consumable)))  # consumable lines before each line
    customer_first_line = np.searchsorted(line_customer, line_customer, side="left")
    order_start = order_first_line[:-1][order_of_lines(order_first_line)]
    earlier = before[order_start] - before[customer_first_line]  # in this customer's past orders
    repeat = (rng.random(count) < share) & (earlier > 0)
    positions = np.flatnonzero(consumable)
    pick = before[customer_first_line[repeat]] + (
        rng.random(int(repeat.sum())) * earlier[repeat]
    ).astype(np.int64)
    source = np.arange(count)
    source[repeat] = positions[pick]
    # A source can itself be a repeat; follow the pointers until they stop moving.
    while True:
        followed = source[source]
        if np.array_equal(followed, source):
            break
        source = followed
    return line_product[source]


def redraw_duplicates(
    line_product: np.ndarray,
    line_customer: np.ndarray,
    group: np.ndarray,
    draws: Draws,
    counted: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Redraw lines whose product (one of `counted`) came earlier in the same group (order or
    customer); after 20 rounds, the lines still duplicated (few) are returned as a mask."""
    line_product = line_product.copy()
    products = len(draws.popularity_cdf)
    for _attempt in range(20):
        repeated = demo_orders.duplicates(line_product, group, products) & counted[line_product]
        if not repeated.any():
            break
        line_product[repeated] = draw_products(line_customer[repeated], draws, rng)
    return line_product, demo_orders.duplicates(line_product, group, products) & counted[
        line_product
    ]


def next_line_chances(
    draws: Draws,
    customer: int,
    history: np.ndarray,
    last_order: np.ndarray,
    repeat_share: float,
    follow_up_rate: float,
) -> np.ndarray:
    """The chance that one line of `customer`'s next order buys each product, as `generate`
    draws lines: a draw from their tastes (`Draws.line_chances`) with the durables they have
    left out (`redraw_duplicates`), the follow-ups of their last order planted into the order
    (`plant_follow_ups`), and with `repeat_share` an earlier consumable bought again
    (`add_repeat_purchases`). `history` holds the products of their lines, `last_order` those
    of their newest order. To first order: the within-order redraw of a product that is
    already in the same order is left out.
    """
    tastes = draws.tastes
    products = len(draws.popularity_cdf)
    chances = draws.line_chances(customer)
    owned = np.zeros(products, dtype=bool)
    owned[history] = True
    chances[owned & ~tastes.consumable] = 0.0
    total = chances.sum()
    if total > 0:
        chances /= total
    # Each follow-up of the last order is planted with `follow_up_rate` into one line of the
    # next order, picked uniformly: a given line holds it with follow_up_rate * E[1 / size].
    follow_ups = tastes.follow_up[last_order]
    follow_ups = follow_ups[follow_ups >= 0]
    if len(follow_ups):
        planted = np.bincount(follow_ups, minlength=products) * (
            follow_up_rate * demo_orders.expected_line_share()
        )
        kept = max(0.0, 1.0 - planted.sum())
        chances = kept * chances + np.minimum(planted, 1.0)
        chances /= chances.sum()
    bought_again = history[tastes.consumable[history]]
    if len(bought_again):
        # A repeat copies one of the earlier consumable lines, each as likely.
        repeats = np.bincount(bought_again, minlength=products) / len(bought_again)
        chances = (1.0 - repeat_share) * chances + repeat_share * repeats
    return chances
