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

from model.data.interactions import Interactions
from model.evaluation.fallback_baseline import (
    CO_PURCHASE_BLEND,
    DECAYED_POPULARITY,
    FallbackSettings,
    fallback_rankings,
)
from model.evaluation.metrics import (
    Scores,
    held_out,
    popularity_rankings,
    ranking_scores,
    time_split,
)


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
    """Fit the fallback on the older interactions and score each user's newest order.

    `item_categories` is accepted for the category lists the refresh also builds; the
    personalised ranking does not read them.
    """
    train, test = time_split(interactions)
    evaluation = held_out(train, test)
    settings = FallbackSettings(
        half_life_days=half_life_days,
        neighbours=neighbours,
        recent_items=recent_items,
        popularity_weight=popularity_weight,
    )
    rankings = fallback_rankings(train, evaluation.user_ids, k, settings)
    plain = popularity_rankings(train, evaluation.user_ids, k)
    relevant = evaluation.relevant
    return {
        "personalised fallback": ranking_scores(rankings[CO_PURCHASE_BLEND], relevant, k),
        "decayed popularity": ranking_scores(rankings[DECAYED_POPULARITY], relevant, k),
        "plain popularity": ranking_scores(plain, relevant, k),
    }


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
