"""Small synthetic interaction data with taste structure, for tests and benchmarks.

Each user has one or two favourite categories (latent: the export has no categories) and buys
mostly from them; within a category and overall, item popularity is skewed (Zipf-like), so plain
popularity is a fair but beatable baseline. `PRESETS` name the settings the evaluate table in
docs/demo-data.md uses, from the demo-sized one to harder ones (more items, a longer tail, more
tastes mixed per user, fewer orders); write one as JSON Lines for `python -m model.evaluate`:

    python -m model.data.synthetic --preset harder [--seed 1] --to FILE.jsonl
"""

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .interactions import Interactions, write_jsonl

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
    popularity_exponent: float = 0.8,
    max_favourites: int = 2,
) -> Interactions:
    """Orders of `num_users` users over `num_items` items; ids are strings (items "1".."N").

    Each user has 1..`max_favourites` favourite categories; item popularity falls as
    rank ** -`popularity_exponent` (larger: a longer tail)."""
    if not 1 <= num_categories <= num_items:
        raise ValueError("need 1 <= num_categories <= num_items")
    if not 1 <= max_favourites <= num_categories:
        raise ValueError("need 1 <= max_favourites <= num_categories")
    rng = np.random.default_rng(seed)
    categories = np.arange(num_items) % num_categories
    # Zipf-like popularity: item weight falls with its rank, in a shuffled order.
    popularity = 1.0 / np.arange(1, num_items + 1) ** popularity_exponent
    popularity = popularity[rng.permutation(num_items)]
    by_category = [np.flatnonzero(categories == c) for c in range(num_categories)]
    global_p = popularity / popularity.sum()

    rows: list[tuple[str, str, float, float]] = []
    for user in range(num_users):
        favourites = rng.choice(
            num_categories, size=rng.integers(1, max_favourites + 1), replace=False
        )
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


# Settings of `taste_interactions` for the evaluate table (docs/demo-data.md), easiest first.
PRESETS: dict[str, dict[str, Any]] = {
    # bench/endpoint.py's data: the demo's size, one or two tastes per user.
    "demo-sized": {"num_users": 2000, "num_items": 500, "num_categories": 12,
                   "orders_per_user": (5, 12)},
    # Four times the items in more (smaller) taste groups, with a longer popularity tail.
    "long-tail": {"num_users": 2000, "num_items": 2000, "num_categories": 40,
                  "orders_per_user": (5, 12), "popularity_exponent": 1.1},
    # Users mix up to four tastes and buy a quarter of their lines outside them.
    "mixed-tastes": {"num_users": 2000, "num_items": 500, "num_categories": 12,
                     "orders_per_user": (5, 12), "max_favourites": 4, "taste_share": 0.75},
    # All of the above, with fewer orders per user (sparser histories).
    "harder": {"num_users": 4000, "num_items": 2000, "num_categories": 40,
               "orders_per_user": (2, 8), "popularity_exponent": 1.1, "max_favourites": 4,
               "taste_share": 0.75},
}  # fmt: skip


def preset_interactions(name: str, seed: int = 1) -> Interactions:
    """The interactions of the preset called `name` (see PRESETS)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return taste_interactions(seed=seed, **PRESETS[name])


def main(argv: list[str] | None = None) -> int:
    """Write a preset's interactions to --to, for `python -m model.evaluate --data`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--to", type=Path, required=True, help="a .jsonl file to write")
    arguments = parser.parse_args(argv)
    interactions = preset_interactions(arguments.preset, arguments.seed)
    write_jsonl(arguments.to, interactions)
    print(f"{len(interactions):,} interactions of preset {arguments.preset} in {arguments.to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
