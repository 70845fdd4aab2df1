"""The simulated shoppers' click model: the purchase generator's own next-purchase chances
(demo_purchases.next_line_chances), examined down the list (shoppers.ClickModel).

The generator runs on small data sets (numpy, no database); docs/demo-data.md describes the model.
"""

import numpy as np
import pytest

from demo_shop.storefront import demo_purchases
from demo_shop.storefront.demo_data import DemoData, DemoParameters, generate
from demo_shop.storefront.shoppers import NEXT_PURCHASE, TOPICS, ClickModel

SMALL = DemoParameters(products=200, categories=8, customers=600, lines=9_000, seed=3)


@pytest.fixture(scope="module")
def small() -> DemoData:
    return generate(SMALL)


@pytest.fixture(scope="module")
def draws(small):
    return demo_purchases.draws_for(small.tastes, SMALL.taste_share)


def history(data: DemoData, customer: int, before_order: int) -> np.ndarray:
    """The products of the customer's lines in orders before `before_order` (oldest first)."""
    line_customer = data.order_customer[data.line_order]
    return data.line_product[(line_customer == customer) & (data.line_order < before_order)]


def order_products(data: DemoData, order: int) -> np.ndarray:
    return data.line_product[data.order_first_line[order] : data.order_first_line[order + 1]]


def chances(draws, customer, past, last_order):
    return demo_purchases.next_line_chances(
        draws, customer, past, last_order, SMALL.repeat_share, SMALL.follow_up_rate
    )


def test_a_lines_chances_are_the_frequencies_the_generator_draws_with(draws):
    customer = 11
    expected = draws.line_chances(customer)
    drawn = demo_purchases.draw_products(
        np.full(200_000, customer), draws, np.random.default_rng(0)
    )
    frequencies = np.bincount(drawn, minlength=len(expected)) / len(drawn)

    assert expected.sum() == pytest.approx(1.0)
    # 200,000 draws: a chance p is estimated within about 4 * sqrt(p / 200,000).
    tolerance = 4 * np.sqrt(expected / len(drawn)) + 1e-4
    assert np.all(np.abs(frequencies - expected) <= tolerance)


def test_the_follow_up_of_the_last_purchase_is_likelier_than_an_unrelated_product(small, draws):
    tastes = small.tastes
    customer = 5
    product = int(np.flatnonzero(tastes.follow_up >= 0)[0])
    follow_up = int(tastes.follow_up[product])
    # A product outside all of the customer's topics, no consumable, never bought by them.
    unrelated = next(
        p
        for p in np.argsort(-tastes.item_popularity).tolist()
        if tastes.fit(customer, np.array([p]))[0] == 0
        and not tastes.consumable[p]
        and p not in (product, follow_up)
    )
    after = chances(draws, customer, np.array([product]), np.array([product]))
    without = chances(draws, customer, np.array([product]), np.empty(0, dtype=np.int64))

    assert after.sum() == pytest.approx(1.0)
    assert after[follow_up] > after[unrelated] > 0
    assert after[follow_up] > without[follow_up]  # the last order makes the follow-up likely


def test_a_durable_the_customer_has_is_not_bought_again_but_a_consumable_may_be(small, draws):
    tastes = small.tastes
    customer = 8
    durable = int(np.flatnonzero(~tastes.consumable & (tastes.follow_up < 0))[0])
    consumable = int(np.flatnonzero(tastes.consumable & (tastes.follow_up < 0))[0])
    nothing = chances(draws, customer, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    after = chances(draws, customer, np.array([durable, consumable]), np.empty(0, dtype=np.int64))

    assert nothing[durable] > 0 and after[durable] == 0
    assert after[consumable] > nothing[consumable]


def test_the_generators_own_next_orders_are_what_the_chances_favour(small, draws):
    # Each customer's newest order, from the orders before it: its lines' mean chance against
    # a product picked at random (1 / products).
    ratios = []
    for customer in range(300):
        orders = np.flatnonzero(small.order_customer == customer)
        if len(orders) < 2:
            continue
        last, previous = orders[-1], orders[-2]
        predicted = chances(
            draws, customer, history(small, customer, last), order_products(small, previous)
        )
        ratios.append(predicted[order_products(small, last)].mean() * len(predicted))
    assert np.mean(ratios) > 5


class FakeTastes:
    """A stand-in for shopper_tastes' classes: fixed chances and fits, so the click model's
    arithmetic is checked apart from the generator."""

    kind = "latent"

    def __init__(self, next_purchase: dict[int, float] | None, fit: dict[int, float]):
        self.chances, self.fits = next_purchase, fit

    def fit(self, user_id, item_ids):
        return [self.fits[item] for item in item_ids]

    def next_purchase(self, user_id, item_ids):
        return None if self.chances is None else [self.chances[item] for item in item_ids]


def test_the_chance_of_a_click_is_the_next_purchase_chance_decayed_by_position():
    tastes = FakeTastes({1: 0.2, 2: 0.05, 3: 0.2}, {1: 1.0, 2: 1.0, 3: 0.0})
    model = ClickModel(kind=NEXT_PURCHASE, position_decay=0.5)

    assert model.probabilities(tastes, 7, [1, 2, 3]) == pytest.approx([0.2, 0.025, 0.05])
    # The same item lower down the list is clicked less: examination falls with the position.
    assert model.probabilities(tastes, 7, [2, 3, 1])[2] == pytest.approx(0.05)


def test_the_topics_model_is_kept_and_stands_in_without_a_generator():
    tastes = FakeTastes(None, {1: 0.0, 2: 1.0, 3: 0.5})
    topics = ClickModel(kind=TOPICS, base_rate=0.01, taste_rate=0.06, position_decay=0.5)
    expected = [0.01, 0.06 * 0.5, 0.035 * 0.25]

    assert topics.probabilities(tastes, 7, [1, 2, 3]) == pytest.approx(expected)
    stand_in = ClickModel(kind=NEXT_PURCHASE, base_rate=0.01, taste_rate=0.06, position_decay=0.5)
    assert stand_in.probabilities(tastes, 7, [1, 2, 3]) == pytest.approx(expected)
