"""seed_demo's generator (numpy, no database): the properties a learned model could use.

Small data sets, so every test runs in well under a second.
"""

from dataclasses import replace

import numpy as np
import pytest

from demo_shop.storefront.demo_data import DemoData, DemoDataError, DemoParameters, generate

SMALL = DemoParameters(products=200, categories=8, customers=600, lines=9_000, seed=3)


@pytest.fixture(scope="module")
def small() -> DemoData:
    return generate(SMALL)


def line_customers(data: DemoData) -> np.ndarray:
    return data.order_customer[data.line_order]


def bought_before(data: DemoData) -> np.ndarray:
    """True for each line whose product the same customer bought in an earlier line."""
    key = line_customers(data).astype(np.int64) * len(data.product_slugs) + data.line_product
    # Orders are oldest first, so the first occurrence of a key is the first purchase.
    _, first = np.unique(key, return_index=True)
    again = np.ones(len(key), dtype=bool)
    again[first] = False
    return again


def next_order_has(data: DemoData, first: np.ndarray, then: np.ndarray) -> float:
    """Of the orders holding a product of `first`, the share whose customer's next order holds
    the matching product of `then` (first[i] -> then[i])."""
    follows = dict(zip(first.tolist(), then.tolist(), strict=True))
    orders = [set() for _ in data.order_customer]
    for order, product in zip(data.line_order.tolist(), data.line_product.tolist(), strict=True):
        orders[order].add(product)
    later: dict[int, int] = {}  # customer -> their order after the one being looked at
    hits = total = 0
    for order in range(len(orders) - 1, -1, -1):
        customer = int(data.order_customer[order])
        following = later.get(customer)
        later[customer] = order
        if following is None:
            continue
        for product in orders[order] & follows.keys():
            total += 1
            hits += follows[product] in orders[following]
    return hits / total


def test_the_same_parameters_give_the_same_data_and_another_seed_does_not(small):
    again = generate(SMALL)
    other = generate(replace(SMALL, seed=4))

    assert again.product_slugs == small.product_slugs
    assert np.array_equal(again.line_product, small.line_product)
    assert np.array_equal(again.order_seconds_ago, small.order_seconds_ago)
    assert np.array_equal(again.tastes.customer_weights, small.tastes.customer_weights)
    assert not np.array_equal(other.line_product[:500], small.line_product[:500])


def test_more_lines_keep_the_catalogue_and_the_customers_tastes(small):
    more = generate(replace(SMALL, lines=12_000))

    assert more.product_slugs == small.product_slugs
    assert np.array_equal(more.tastes.topic_members, small.tastes.topic_members)
    assert np.array_equal(more.tastes.customer_topics, small.tastes.customer_topics)


def test_item_popularity_has_a_long_tail(small):
    sales = np.bincount(small.line_product, minlength=SMALL.products)
    ranked = np.sort(sales)[::-1]
    top_tenth = ranked[: SMALL.products // 10].sum() / ranked.sum()

    # A head that sells far more than its share of the catalogue, but not everything ...
    assert 0.2 < top_tenth < 0.7
    # ... and a tail: the median item sells well under the mean, many sell little.
    assert np.median(sales) < 0.8 * sales.mean()
    assert (sales < sales.mean() / 4).mean() > 0.05
    flat = generate(replace(SMALL, popularity_exponent=0.0))
    flat_sales = np.sort(np.bincount(flat.line_product, minlength=SMALL.products))[::-1]
    assert top_tenth > 1.2 * flat_sales[: SMALL.products // 10].sum() / flat_sales.sum()


def test_customers_buy_consumables_again_and_durables_rarely(small):
    again = bought_before(small)
    consumable = small.tastes.consumable[small.line_product]

    assert again.mean() > 0.05
    # Most repeat purchases are of consumables; a durable is rarely bought twice (only when a
    # heavy buyer has run out of new ones in their tastes, or a follow-up was had already).
    assert consumable[again].mean() > 0.6
    assert again[consumable].mean() > 3 * again[~consumable].mean()
    without = generate(replace(SMALL, repeat_share=0.0))
    assert bought_before(without).mean() < 0.8 * again.mean()


def test_a_follow_up_product_shows_up_in_the_buyers_next_order_more_than_by_chance(small):
    first = np.flatnonzero(small.tastes.follow_up >= 0)
    then = small.tastes.follow_up[first]
    planted = next_order_has(small, first, then)
    # The same statistic without planting: what the shared topic alone gives.
    unplanted = generate(replace(SMALL, follow_up_rate=0.0))
    by_topic_alone = next_order_has(unplanted, first, then)
    # And for pairs that were never planted: the follow-up of another product.
    shuffled = next_order_has(small, first, np.roll(then, 1))

    assert len(first) > 0.1 * SMALL.products
    assert planted > 2 * by_topic_alone
    assert planted > 2 * shuffled


def test_tastes_are_topics_that_mix_categories(small):
    members = small.tastes.topic_members
    spans = [len(set(small.product_category[row].tolist())) for row in members if row.any()]
    mixed = (small.tastes.customer_weights > 0).sum(axis=1)

    assert np.mean(spans) > 2
    assert set(mixed.tolist()) == {1, 2, 3}
    # A topic is not a category: it holds part of each category it touches, not all.
    shares = [
        row[small.product_category == category].mean()
        for row in members
        for category in set(small.product_category[row].tolist())
    ]
    assert np.mean(shares) < 0.6


def test_customers_buy_mostly_what_fits_their_latent_tastes(small):
    customers = line_customers(small)
    fits = np.array(
        [
            small.tastes.fit(customer, np.array([product]))[0]
            for customer, product in zip(
                customers.tolist(), small.line_product.tolist(), strict=True
            )
        ]
    )
    # The same lines dealt to random customers: what a shop without tastes would show.
    dealt = np.random.default_rng(0).permutation(customers)
    chance = np.array(
        [
            small.tastes.fit(customer, np.array([product]))[0]
            for customer, product in zip(dealt.tolist(), small.line_product.tolist(), strict=True)
        ]
    )

    # Below taste_share (0.8): a heavy buyer who has every durable of their tastes buys others.
    assert (fits > 0).mean() > 0.5
    assert (fits > 0).mean() > 2 * (chance > 0).mean()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topic_size": 0}, "--topic-size must be at least 1"),
        ({"max_tastes": 0}, "--max-tastes must be at least 1"),
        ({"taste_share": 1.5}, "--taste-share must be between 0 and 1"),
        ({"repeat_share": -0.1}, "--repeat-share must be between 0 and 1"),
        ({"popularity_exponent": -1.0}, "--popularity-exponent must be 0 or more"),
    ],
)
def test_nonsense_behaviour_parameters_name_the_flag(change, message):
    with pytest.raises(DemoDataError, match=message):
        generate(replace(SMALL, **change))


def test_a_tiny_catalogue_with_tiny_topics_still_generates():
    data = generate(
        DemoParameters(products=5, categories=5, customers=20, lines=60, topic_size=1, seed=1)
    )

    assert len(data.line_product) > 0
    assert data.line_product.max() < 5
    # Every taste a customer has is a topic with products.
    used = data.tastes.customer_topics[data.tastes.customer_weights > 0]
    assert data.tastes.topic_members[used].any(axis=1).all()


def test_parameters_survive_their_json_record():
    params = replace(SMALL, topic_size=7, follow_up_rate=0.25)

    assert DemoParameters.from_record(params.as_record()) == params
    assert DemoParameters.from_record({**params.as_record(), "from_a_newer_version": 1}) == params
