"""Recall@10 of the personalised fallback against plain popularity, with model/evaluate.py's time split.

Each user's last order is the test set, everything older is the history the fallback is computed
from (the same `compute_tables` and `blend` the shop runs). Run against a seeded database, by
default the 30k-line one bench/fallback.py seeds under /tmp/fallback-bench:

    [DATABASE_URL=sqlite:////tmp/shop.sqlite3] .venv/bin/python bench/fallback_quality.py
"""

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import Interactions
from model.evaluate import Scores, ranking_scores, time_split


def evaluate_fallback(
    interactions: Interactions,
    item_categories: dict[int, object],
    k: int = 10,
    *,
    half_life_days: float = 30.0,
    neighbours: int = 30,
    recent_items: int = 20,
    popularity_weight: float = 0.1,
) -> dict[str, Scores]:
    """Fit the fallback on the older interactions and score each user's newest order."""
    from recommendations.catalog import InteractionChunk
    from recommendations.fallback_compute import blend, compute_tables

    train, test = time_split(interactions)
    train_users = train.user_ids.astype(np.int64)
    train_items = train.item_ids.astype(np.int64)
    now = float(train.timestamps.max())
    tables = compute_tables(
        [InteractionChunk(train_users, train_items, train.weights, train.timestamps)],
        item_categories,
        now=now,
        half_life_days=half_life_days,
        neighbours=neighbours,
    )
    history = _histories(train_users, train_items, train.timestamps)
    relevant_by_user: dict[int, set[str]] = {}
    for user, item in zip(
        test.user_ids.astype(np.int64).tolist(), test.item_ids.tolist(), strict=True
    ):
        relevant_by_user.setdefault(user, set()).add(item)

    popular, popular_scores = tables.popular(len(tables.items))
    plain_order = np.argsort(
        -np.bincount(
            np.searchsorted(tables.items, train_items),
            weights=train.weights,
            minlength=len(tables.items),
        ),
        kind="stable",
    )
    plain = [str(pk) for pk in tables.items[plain_order].tolist()]
    position = {str(pk): n for n, pk in enumerate(tables.items.tolist())}
    relevant, fallback_lists, popular_lists, plain_lists = [], [], [], []
    for user, wanted in sorted(relevant_by_user.items()):
        recent = history.get(user, [])
        seen = set(recent)
        wanted = wanted - seen
        if not wanted:
            continue
        lists = {}
        for item in recent[:recent_items]:
            if item in position:
                lists[item] = tables.neighbours(position[item])
        relevant.append(wanted)
        fallback_lists.append(
            blend(popular, popular_scores, lists, recent[:recent_items], seen, popularity_weight)[
                :k
            ]
        )
        popular_lists.append([i for i in popular if i not in seen][:k])
        plain_lists.append([i for i in plain if i not in seen][:k])
    return {
        "personalised fallback": ranking_scores(fallback_lists, relevant, k),
        "decayed popularity": ranking_scores(popular_lists, relevant, k),
        "plain popularity": ranking_scores(plain_lists, relevant, k),
    }


def _histories(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray
) -> dict[int, list[str]]:
    """Each user's distinct items, most recently bought first (what the adapter returns at page time)."""
    order = np.lexsort((-timestamps, users))
    histories: dict[int, list[str]] = {}
    for user, item in zip(users[order].tolist(), items[order].tolist(), strict=True):
        seen = histories.setdefault(user, [])
        if str(item) not in seen:
            seen.append(str(item))
    return histories


def interactions_from_catalog() -> tuple[Interactions, dict[int, object]]:
    """The whole history through the configured catalog adapter, as model/ reads it."""
    from recommendations.catalog import get_catalog

    catalog = get_catalog()
    chunks = list(catalog.interaction_chunks())
    if not chunks:
        raise SystemExit("The shop has no order lines: run manage.py seed_demo first.")
    interactions = Interactions(
        np.concatenate([c.user_ids for c in chunks]).astype(str),
        np.concatenate([c.item_ids for c in chunks]).astype(str),
        np.concatenate([c.weights for c in chunks]),
        np.concatenate([c.timestamps for c in chunks]),
    )
    return interactions, catalog.item_categories()


def print_table(results: dict[str, Scores], k: int = 10) -> None:
    """Recall, precision and NDCG per ranking."""
    print(
        f"{'ranking':<22} {'recall@' + str(k):>10} {'precision@' + str(k):>13} {'ndcg@' + str(k):>8} {'users':>6}"
    )
    for name, s in results.items():
        print(f"{name:<22} {s.recall:>10.4f} {s.precision:>13.4f} {s.ndcg:>8.4f} {s.users:>6}")


def main() -> int:
    """Print the figures for the database at DATABASE_URL (default: bench/fallback.py's 30k shop)."""
    if "DATABASE_URL" not in os.environ:
        from bench.fallback import seeded

        os.environ["DATABASE_URL"] = seeded(1.0)
        os.environ["REDIS_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_shop.settings")
    import django

    django.setup()
    from recommendations.conf import app_settings

    interactions, categories = interactions_from_catalog()
    results = evaluate_fallback(
        interactions,
        categories,
        half_life_days=float(app_settings.FALLBACK_HALF_LIFE_DAYS),
        neighbours=int(app_settings.FALLBACK_NEIGHBOURS),
        recent_items=int(app_settings.FALLBACK_RECENT_ITEMS),
        popularity_weight=float(app_settings.FALLBACK_POPULARITY_WEIGHT),
    )
    print(f"{len(interactions):,} order lines, time split of model/evaluate.py")
    print_table(results)
    fallback, plain = results["personalised fallback"].recall, results["plain popularity"].recall
    print(
        f"TARGET fallback_recall_over_popularity {fallback / max(plain, 1e-9):.2f} > 1.2 "
        f"{'PASS' if fallback > 1.2 * plain else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
