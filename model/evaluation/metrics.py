"""The offline split and ranking metrics every model, baseline and fallback is scored with.

Each user's newest interactions (everything at their latest timestamp: their last order) are the
test set, everything older trains. Items the user already had in training are left out of both
the ranking and the relevant set, as the served model never recommends them.
"""

from dataclasses import dataclass

import numpy as np

from ..data.interactions import Interactions
from ..inference.recommender import Recommender
from ..training.encoding import encode


@dataclass(frozen=True)
class Scores:
    """Mean ranking metrics over the evaluated users, and the share of the catalogue shown."""

    precision: float
    recall: float
    ndcg: float
    users: int
    coverage: float = 0.0  # distinct items in all top-k lists / items in the training data


@dataclass(frozen=True)
class HeldOut:
    """The users to score and, per user, the held-out items they did not have in training."""

    user_ids: list[str]
    relevant: list[set[str]]


def time_split(interactions: Interactions) -> tuple[Interactions, Interactions]:
    """(train, test): each user's interactions at their newest timestamp are test, if older exist."""
    encoded = encode(interactions)
    rows = encoded.user_rows
    newest = np.full(len(encoded.user_ids), -np.inf)
    np.maximum.at(newest, rows, encoded.timestamps)
    oldest = np.full(len(encoded.user_ids), np.inf)
    np.minimum.at(oldest, rows, encoded.timestamps)
    # Users with one timestamp only have no history to learn from: they stay in train.
    has_history = oldest < newest
    is_test = (encoded.timestamps == newest[rows]) & has_history[rows]
    return interactions.select(~is_test), interactions.select(is_test)


def held_out(train: Interactions, test: Interactions) -> HeldOut:
    """Each test user's items minus what they had in `train`; users left with none are dropped."""
    had: dict[str, set[str]] = {}
    for user_id, item_id in zip(train.user_ids.tolist(), train.item_ids.tolist(), strict=True):
        had.setdefault(user_id, set()).add(item_id)
    wanted_by_user: dict[str, set[str]] = {}
    for user_id, item_id in zip(test.user_ids.tolist(), test.item_ids.tolist(), strict=True):
        wanted_by_user.setdefault(user_id, set()).add(item_id)
    users, relevant = [], []
    for user_id, wanted in sorted(wanted_by_user.items()):
        wanted = wanted - had.get(user_id, set())
        if wanted:
            users.append(user_id)
            relevant.append(wanted)
    return HeldOut(users, relevant)


def per_user_scores(
    recommended: list, relevant: list[set[str]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision@k, recall@k and NDCG@k (binary relevance) of each user, in order."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precision, recall, ndcg = (np.zeros(len(relevant)) for _ in range(3))
    for n, (items, wanted) in enumerate(zip(recommended, relevant, strict=True)):
        hits = np.array([item in wanted for item in list(items[:k])], dtype=float)
        hits = np.pad(hits, (0, k - len(hits)))
        precision[n] = hits.sum() / k
        recall[n] = hits.sum() / len(wanted)
        ndcg[n] = float((hits * discounts).sum() / discounts[: min(len(wanted), k)].sum())
    return precision, recall, ndcg


def coverage_of(recommended: list, k: int, catalogue_size: int) -> float:
    """Distinct items in all the top-k lists / the catalogue (0 for an empty catalogue)."""
    shown = {item for items in recommended for item in list(items[:k])}
    return len(shown) / catalogue_size if catalogue_size else 0.0


def ranking_scores(
    recommended: list, relevant: list[set[str]], k: int, catalogue_size: int = 0
) -> Scores:
    """Precision@k, recall@k and NDCG@k (binary relevance) averaged over users, and coverage."""
    if not relevant:
        return Scores(0.0, 0.0, 0.0, 0)
    precision, recall, ndcg = per_user_scores(recommended, relevant, k)
    return Scores(
        float(np.mean(precision)),
        float(np.mean(recall)),
        float(np.mean(ndcg)),
        len(precision),
        float(coverage_of(recommended, k, catalogue_size)),
    )


def model_rankings(model: Recommender, user_ids: list[str], k: int) -> list[list[str]]:
    """The model's top `k` unseen items for each user (all of them known to the model)."""
    rows = np.array([int(np.searchsorted(model.user_ids, u)) for u in user_ids], dtype=np.int64)
    if not len(rows):
        return []
    top = model.top_item_indices(rows, k)
    return [model.item_ids[t[t >= 0]].tolist() for t in top]


def score_model(model: Recommender, evaluation: HeldOut, k: int) -> Scores:
    """The model's scores on held-out users."""
    return ranking_scores(
        model_rankings(model, evaluation.user_ids, k), evaluation.relevant, k, model.num_items
    )


def popularity_rankings(train: Interactions, user_ids: list[str], k: int) -> list[list[str]]:
    """Plain popularity (summed weights in `train`), leaving out what each user had."""
    encoded = encode(train)
    counts = np.bincount(
        encoded.item_columns, weights=encoded.weights, minlength=len(encoded.item_ids)
    )
    order = encoded.item_ids[np.argsort(-counts, kind="stable")].tolist()
    had: dict[str, set[str]] = {}
    for user_id, item_id in zip(train.user_ids.tolist(), train.item_ids.tolist(), strict=True):
        had.setdefault(user_id, set()).add(item_id)
    rankings = []
    for user_id in user_ids:
        seen = had.get(user_id, set())
        rankings.append([item for item in order[: k + len(seen)] if item not in seen][:k])
    return rankings
