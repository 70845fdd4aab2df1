"""Small synthetic interaction data with taste structure, for tests and benchmarks.

Each user has one or two favourite categories and buys mostly from them; within a category and
overall, item popularity is skewed (Zipf-like), so plain popularity is a fair but beatable baseline.
"""

import numpy as np

from .data import Interactions

DAY = 86_400.0
START = 1_700_000_000.0  # a fixed epoch second, so the data (and its hash) never depends on today


def taste_interactions(
    num_users: int = 300,
    num_items: int = 120,
    num_categories: int = 6,
    orders_per_user: tuple[int, int] = (3, 8),
    items_per_order: tuple[int, int] = (1, 3),
    taste_share: float = 0.85,
    span_days: float = 180.0,
    seed: int = 0,
    user_prefix: str = "user-",
) -> Interactions:
    """Orders of `num_users` users over `num_items` items; ids are strings (items "1".."N")."""
    if not 1 <= num_categories <= num_items:
        raise ValueError("need 1 <= num_categories <= num_items")
    rng = np.random.default_rng(seed)
    categories = np.arange(num_items) % num_categories
    # Zipf-like popularity: item weight falls with its rank, in a shuffled order.
    popularity = 1.0 / np.arange(1, num_items + 1) ** 0.8
    popularity = popularity[rng.permutation(num_items)]
    by_category = [np.flatnonzero(categories == c) for c in range(num_categories)]
    global_p = popularity / popularity.sum()

    rows: list[tuple[str, str, float, float]] = []
    for user in range(num_users):
        favourites = rng.choice(num_categories, size=rng.integers(1, 3), replace=False)
        pool = np.concatenate([by_category[c] for c in favourites])
        pool_p = popularity[pool] / popularity[pool].sum()
        num_orders = rng.integers(orders_per_user[0], orders_per_user[1] + 1)
        times = np.sort(START + rng.uniform(0, span_days, size=num_orders) * DAY)
        for timestamp in times:
            size = rng.integers(items_per_order[0], items_per_order[1] + 1)
            for _ in range(size):
                if rng.random() < taste_share:
                    item = rng.choice(pool, p=pool_p)
                else:
                    item = rng.choice(num_items, p=global_p)
                weight = float(rng.integers(1, 3))
                rows.append((f"{user_prefix}{user}", str(item + 1), weight, round(timestamp, 3)))
    return Interactions.from_rows(rows)


def bulk_interactions(
    num_users: int,
    num_items: int,
    num_interactions: int,
    num_categories: int = 50,
    taste_share: float = 0.85,
    span_days: float = 180.0,
    seed: int = 0,
) -> Interactions:
    """Large data with the same structure as `taste_interactions`, drawn in bulk (for benches).

    Each user has one favourite category; `taste_share` of the rows come from it, the rest from
    the whole catalogue, both with Zipf-like item popularity. Rows are drawn vectorised, so a
    million take seconds rather than the minutes a per-row loop needs.
    """
    if not 1 <= num_categories <= num_items:
        raise ValueError("need 1 <= num_categories <= num_items")
    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, size=num_interactions)
    favourite = rng.integers(0, num_categories, size=num_users)
    # Items of category c are c, c + C, c + 2C, ...; rank r within it is item c + r * C.
    per_category = num_items // num_categories
    category_cdf = np.cumsum(1.0 / np.arange(1, per_category + 1) ** 0.8)
    global_cdf = np.cumsum(1.0 / np.arange(1, num_items + 1) ** 0.8)
    ranks = np.searchsorted(category_cdf, rng.uniform(0, category_cdf[-1], num_interactions))
    items = favourite[users] + np.minimum(ranks, per_category - 1) * num_categories
    anywhere = rng.random(num_interactions) >= taste_share
    global_order = rng.permutation(num_items)
    items[anywhere] = global_order[
        np.searchsorted(global_cdf, rng.uniform(0, global_cdf[-1], int(anywhere.sum())))
    ]
    timestamps = np.round(START + rng.uniform(0, span_days, num_interactions) * DAY, 3)
    # Index small arrays of names: the ids get the width of the longest name, not numpy's default.
    user_names = np.char.add("user-", np.arange(num_users).astype(str))
    item_names = np.arange(1, num_items + 1).astype(str)
    return Interactions(
        user_names[users],
        item_names[items],
        rng.integers(1, 3, size=num_interactions).astype(np.float32),
        timestamps,
    )
