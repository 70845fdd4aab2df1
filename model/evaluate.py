"""Offline evaluation: a time-based split, precision/recall/NDCG@k for the model and popularity.

Each user's newest interactions (everything at their latest timestamp: their last order) are the
test set, everything older trains. Items the user already had in training are left out of both
the ranking and the relevant set, as the served model never recommends them.

    python -m model.evaluate --data DIR_OR_FILE [--k 10] [--factors 32 ...]
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from .data import Interactions, read_interactions
from .fitting import TrainingParams, decayed_popularity, encode, fit


@dataclass(frozen=True)
class Scores:
    """Mean ranking metrics over the evaluated users."""

    precision: float
    recall: float
    ndcg: float
    users: int


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


def ranking_scores(recommended: list[np.ndarray], relevant: list[set[str]], k: int) -> Scores:
    """Precision@k, recall@k and NDCG@k (binary relevance) averaged over users."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precision, recall, ndcg = [], [], []
    for items, wanted in zip(recommended, relevant, strict=True):
        hits = np.array([item in wanted for item in items[:k]], dtype=float)
        hits = np.pad(hits, (0, k - len(hits)))
        precision.append(hits.sum() / k)
        recall.append(hits.sum() / len(wanted))
        ideal = discounts[: min(len(wanted), k)].sum()
        ndcg.append(float((hits * discounts).sum() / ideal))
    if not precision:
        return Scores(0.0, 0.0, 0.0, 0)
    return Scores(
        float(np.mean(precision)), float(np.mean(recall)), float(np.mean(ndcg)), len(precision)
    )


def evaluate(
    interactions: Interactions, params: TrainingParams | None = None, k: int = 10
) -> dict[str, Scores]:
    """Fit on the older part, score the newest: the model, plain and time-decayed popularity."""
    params = params or TrainingParams()
    train, test = time_split(interactions)
    model = fit(train, params)
    encoded = encode(train)

    relevant_by_user: dict[str, set[str]] = {}
    for user_id, item_id in zip(test.user_ids.tolist(), test.item_ids.tolist(), strict=True):
        relevant_by_user.setdefault(user_id, set()).add(item_id)
    users, relevant, rows = [], [], []
    for user_id, wanted in sorted(relevant_by_user.items()):
        row = int(np.searchsorted(model.user_ids, user_id))
        wanted = wanted - set(model.item_ids[model.seen_items(row)].tolist())
        if wanted:
            users.append(user_id)
            relevant.append(wanted)
            rows.append(row)
    rows_array = np.array(rows, dtype=np.int64)

    def popularity_ranking(item_scores: np.ndarray) -> list[np.ndarray]:
        scores = np.tile(item_scores.astype(np.float64), (len(rows_array), 1))
        for n, row in enumerate(rows_array):
            scores[n, model.seen_items(int(row))] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return [model.item_ids[o[np.isfinite(scores[n, o])]] for n, o in enumerate(order)]

    top = model.top_item_indices(rows_array, k) if len(rows_array) else np.empty((0, k), int)
    model_ranking = [model.item_ids[t[t >= 0]] for t in top]
    counts = np.bincount(encoded.item_columns, weights=encoded.weights, minlength=model.num_items)
    return {
        "model": ranking_scores(model_ranking, relevant, k),
        "popularity": ranking_scores(popularity_ranking(counts), relevant, k),
        "recent_popularity": ranking_scores(
            popularity_ranking(decayed_popularity(encoded, params.half_life_days)), relevant, k
        ),
    }


def format_table(results: dict[str, Scores], k: int) -> str:
    """The figures as a small fixed-width table."""
    lines = [
        f"{'ranking':<18} {'precision@' + str(k):>13} {'recall@' + str(k):>10} {'ndcg@' + str(k):>8} {'users':>6}"
    ]
    for name, s in results.items():
        lines.append(
            f"{name:<18} {s.precision:>13.4f} {s.recall:>10.4f} {s.ndcg:>8.4f} {s.users:>6}"
        )
    return "\n".join(lines)


def add_param_arguments(parser: argparse.ArgumentParser) -> None:
    """One --option per TrainingParams field, defaulting to the field's default."""
    for f in fields(TrainingParams):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default
        )


def params_from_arguments(arguments: argparse.Namespace) -> TrainingParams:
    """TrainingParams from the options `add_param_arguments` added."""
    return TrainingParams(**{f.name: getattr(arguments, f.name) for f in fields(TrainingParams)})


def main(argv: list[str] | None = None) -> int:
    """Print model vs popularity figures for the data at --data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a data file or folder")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_param_arguments(parser)
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    results = evaluate(
        read_interactions(arguments.data), params_from_arguments(arguments), arguments.k
    )
    if arguments.json:
        print(json.dumps({name: asdict(s) for name, s in results.items()}, indent=2))
    else:
        print(format_table(results, arguments.k))
        print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
