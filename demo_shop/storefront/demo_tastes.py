"""The demo's latent tastes: topics that span categories, a long tail, consumables and follow-ups.

A topic is a group of products from a few categories that go together (a camping kitchen: some
Kitchen, some Outdoor & Camping, some Coffee & Tea items), not a whole category. Every product
belongs to one topic, some to a second. A customer's taste is a mix of one to `max_tastes` topics
with random weights. Item popularity follows a Zipf law over the whole catalogue, so a few items
sell a lot and most sell little. Some products are consumables (bought again), and some have a
follow-up product in the same topic that the buyer tends to buy in their next order.

Both seed_demo's orders (demo_data.py) and simulate_shoppers' clicks (shoppers.py) come from the
same `LatentTastes`, so the clicks reward a ranking that found the tastes the orders came from.
"""

from dataclasses import dataclass, replace

import numpy as np

from .demo_vocabulary import THEMES

TOPIC_ZIPF_EXPONENT = 0.5  # some tastes are more common than others, none dominates
TASTE_WEIGHT_CONCENTRATION = 1.5  # Dirichlet concentration of the weights of a customer's topics


@dataclass(frozen=True)
class LatentTastes:
    """The hidden structure the orders are drawn from; products and customers by index."""

    topic_members: np.ndarray  # (topics, products) bool: the products of each topic
    item_popularity: np.ndarray  # (products,) sums to 1, Zipf-like in a random order
    consumable: np.ndarray  # (products,) bool: bought again now and then
    follow_up: np.ndarray  # (products,) the product often bought next, or -1
    customer_topics: np.ndarray  # (customers, max_tastes) topic indices; unused slots repeat 0
    customer_weights: np.ndarray  # (customers, max_tastes) weights summing to 1; unused are 0

    def fit(self, customer: int, products: np.ndarray) -> np.ndarray:
        """How well each product suits the customer, 0..1: 1 is in their strongest topic."""
        weights = self.customer_weights[customer]
        members = self.topic_members[self.customer_topics[customer]][:, products]
        share = weights @ members  # the part of the customer's taste the product belongs to
        return np.minimum(1.0, share / weights.max())

    def reindexed(self, new_index: np.ndarray) -> "LatentTastes":
        """The same tastes after the products were shuffled: product p is now new_index[p]."""
        order = np.argsort(new_index)  # old index of each new position
        follow_up = self.follow_up[order]
        follow_up = np.where(follow_up >= 0, new_index[np.maximum(follow_up, 0)], -1)
        return replace(
            self,
            topic_members=self.topic_members[:, order],
            item_popularity=self.item_popularity[order],
            consumable=self.consumable[order],
            follow_up=follow_up,
        )


def zipf_weights(count: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Long-tailed weights in a random order: the most popular one is anywhere in the list."""
    ranks = rng.permutation(count)
    weights = 1.0 / (ranks + 1.0) ** exponent
    return weights / weights.sum()


def topic_members(
    product_category: np.ndarray,
    categories: int,
    topics: int,
    categories_per_topic: int,
    second_topic_share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each topic takes a few categories; each product joins a topic that covers its category."""
    span = min(categories_per_topic, categories)
    topic_categories = np.zeros((topics, categories), dtype=bool)
    for topic in range(topics):
        topic_categories[topic, rng.choice(categories, size=span, replace=False)] = True
    # Every category needs a topic, or its products could only be bought by chance.
    for category in np.flatnonzero(~topic_categories.any(axis=0)):
        topic_categories[rng.integers(topics), category] = True
    products = len(product_category)
    members = np.zeros((topics, products), dtype=bool)
    second = rng.random(products) < second_topic_share
    for product, category in enumerate(product_category.tolist()):
        candidates = np.flatnonzero(topic_categories[:, category])
        count = 2 if second[product] and len(candidates) > 1 else 1
        members[rng.choice(candidates, size=count, replace=False), product] = True
    return members


def follow_ups(members: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """For `share` of the products, another product of one of its topics that is bought next."""
    products = members.shape[1]
    follow_up = np.full(products, -1, dtype=np.int64)
    for product in np.flatnonzero(rng.random(products) < share).tolist():
        topic = rng.choice(np.flatnonzero(members[:, product]))
        others = np.flatnonzero(members[topic])
        others = others[others != product]
        if len(others):
            follow_up[product] = rng.choice(others)
    return follow_up


def consumables(product_category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Products bought again: likely in themes such as Coffee & Tea, rare in others."""
    share = np.array([THEMES[c].consumable_share for c in product_category.tolist()])
    return rng.random(len(product_category)) < share


def customer_tastes(
    customers: int,
    available: np.ndarray,
    max_tastes: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's topics (1..max_tastes of the `available` ones, common ones more often)."""
    topics = len(available)
    slots = min(max_tastes, int(available.sum()))
    topic_weights = zipf_weights(topics, TOPIC_ZIPF_EXPONENT, rng)
    count = rng.integers(1, slots + 1, size=customers)
    # Gumbel top-k: topics drawn without replacement, popular topics more often; a topic
    # without products (possible in a tiny catalogue) is never drawn.
    with np.errstate(divide="ignore"):
        log_weights = np.where(available, np.log(topic_weights), -np.inf)
    keys = log_weights + rng.gumbel(size=(customers, topics))
    chosen = np.argsort(-keys, axis=1)[:, :slots]
    weights = rng.dirichlet(np.full(slots, TASTE_WEIGHT_CONCENTRATION), size=customers)
    unused = np.arange(slots) >= count[:, None]
    weights[unused] = 0.0
    weights = -np.sort(-weights, axis=1)  # slot 0 is the strongest taste
    weights /= weights.sum(axis=1, keepdims=True)
    # Unused slots repeat slot 0, so a draw that rounding pushes into one stays in the tastes.
    chosen = np.where(unused, chosen[:, :1], chosen)
    return chosen, weights
