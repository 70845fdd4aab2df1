"""The validation the choice is made on: several cuts per user, per-user scores, rank agreement.

One cut (each user's newest order within the training part) holds one or two items for most
users, so candidates' differences on it are mostly noise. Fold 1 holds out each user's newest
order, fold 2 the order before it, and so on, each fitted on the rest: a user's score is their
mean over the folds they have, and the choice compares candidates user by user.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau

from ..data.interactions import Interactions
from ..evaluation.metrics import (
    HeldOut,
    Scores,
    held_out,
    model_rankings,
    per_user_scores,
)
from ..inference.recommender import Recommender

DEFAULT_FOLDS = 3


@dataclass(frozen=True)
class Fold:
    """One cut: what the candidates are fitted on and the orders they are scored on."""

    fit_part: Interactions
    held_out: HeldOut


@dataclass(frozen=True)
class UserScores:
    """Each validation user's metrics, averaged over the folds they are in (users sorted by id)."""

    user_ids: list[str]
    precision: np.ndarray
    recall: np.ndarray
    ndcg: np.ndarray
    coverage: float
    newest_fold_ndcg: float  # the mean NDCG on fold 1 alone: the one cut the choice used to see

    def summary(self) -> Scores:
        """The means over users, as the table shows them."""
        if not self.user_ids:
            return Scores(0.0, 0.0, 0.0, 0)
        return Scores(
            float(self.precision.mean()),
            float(self.recall.mean()),
            float(self.ndcg.mean()),
            len(self.user_ids),
            self.coverage,
        )


def validation_folds(interactions: Interactions, folds: int = DEFAULT_FOLDS) -> list[Fold]:
    """Up to `folds` cuts: each user's newest order, then the one before it, and so on.

    Each cut is fitted on everything else the caller gave (older and newer orders alike), so
    every fold fits on about as much data as the first: the models here score a bag of items,
    not a sequence, and a fold fitted on the older part only is a sparser data set whose best
    hyperparameters differ from the test's.
    """
    ranks, orders = order_ranks(interactions)
    cuts = []
    for rank in range(folds):
        # A user keeps at least one order to be known by: one-order users are never held out.
        held = (ranks == rank) & (orders >= 2)
        if not held.any():
            break
        fit_part = interactions.select(~held)
        cut = held_out(fit_part, interactions.select(held))
        if not cut.user_ids:
            break
        cuts.append(Fold(fit_part, cut))
    return cuts


def order_ranks(interactions: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Per row: its order's rank among the user's orders (0: newest), and the user's order count.

    An order is everything a user has at one timestamp, as in `time_split`.
    """
    _, users = np.unique(interactions.user_ids, return_inverse=True)
    by_user_newest_first = np.lexsort((-interactions.timestamps, users))
    user = users[by_user_newest_first]
    timestamp = interactions.timestamps[by_user_newest_first]
    starts_user = np.ones(len(user), dtype=bool)
    starts_user[1:] = user[1:] != user[:-1]
    starts_order = starts_user.copy()
    starts_order[1:] |= timestamp[1:] != timestamp[:-1]
    order_number = np.cumsum(starts_order) - 1
    user_number = np.cumsum(starts_user) - 1
    first_order_of_user = order_number[starts_user]
    orders_of_user = np.bincount(user_number, weights=starts_order).astype(np.int64)
    ranks = np.empty(len(user), dtype=np.int64)
    counts = np.empty(len(user), dtype=np.int64)
    ranks[by_user_newest_first] = order_number - first_order_of_user[user_number]
    counts[by_user_newest_first] = orders_of_user[user_number]
    return ranks, counts


def score_folds(
    fit: Callable[[Interactions], Recommender], folds: Sequence[Fold], k: int
) -> UserScores:
    """Fit once per fold, score its held-out users, and average each user's scores over folds."""
    users = sorted({user for fold in folds for user in fold.held_out.user_ids})
    index = {user: n for n, user in enumerate(users)}
    sums = np.zeros((3, len(users)))
    counts = np.zeros(len(users))
    coverages, fold_ndcg = [], []
    for fold in folds:
        model = fit(fold.fit_part)
        rankings = model_rankings(model, fold.held_out.user_ids, k)
        rows = np.array([index[user] for user in fold.held_out.user_ids], dtype=np.int64)
        for n, values in enumerate(per_user_scores(rankings, fold.held_out.relevant, k)):
            np.add.at(sums[n], rows, values)
        fold_ndcg.append(float(values.mean()) if len(values) else 0.0)
        np.add.at(counts, rows, 1)
        shown = {item for items in rankings for item in items}
        coverages.append(len(shown) / model.num_items if model.num_items else 0.0)
    means = sums / np.maximum(counts, 1)
    coverage = float(np.mean(coverages)) if coverages else 0.0
    newest = fold_ndcg[0] if fold_ndcg else 0.0
    return UserScores(users, means[0], means[1], means[2], coverage, newest)


def rank_agreement(validation: Sequence[float], test: Sequence[float]) -> dict[str, float] | None:
    """How well the candidates' validation order predicts their test order.

    `kendall_tau` is Kendall's tau-b of the two columns (1: the same order, -1: reversed);
    `pairwise` is the share of candidate pairs that the two columns order the same way (pairs tied
    in either column count half). None with fewer than two candidates.
    """
    if len(validation) < 2:
        return None
    agreeing, pairs = 0.0, 0
    for i in range(len(validation)):
        for j in range(i + 1, len(validation)):
            product = np.sign(validation[i] - validation[j]) * np.sign(test[i] - test[j])
            agreeing += 1.0 if product > 0 else 0.5 if product == 0 else 0.0
            pairs += 1
    tau = kendalltau(validation, test).statistic
    return {
        "kendall_tau": round(float(tau), 4) if np.isfinite(tau) else 0.0,
        "pairwise": round(agreeing / pairs, 4),
    }
