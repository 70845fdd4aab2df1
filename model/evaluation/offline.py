"""Offline evaluation: every candidate model, popularity and the app's fallback on one time split.

Each user's last order is the test set; the models are chosen on validation folds carved from
the older part only (model/training/selection.py), then every candidate is refitted on the whole
older part and scored on the test set with precision, recall, NDCG at k and catalogue coverage,
next to plain popularity and the fallback the shop gets for free
(model/evaluation/fallback_baseline.py). Two figures say whether the choice can be trusted: how
far the pick is behind the best candidate on test (with its paired bootstrap interval), and how
well the validation order of the candidates agrees with their test order (Kendall's tau and the
share of pairs ordered alike), for the folds and for the newest order alone.

    python -m model.evaluate --data DIR_OR_FILE [--k 10] [--model auto|als|ease]
        [--format auto|ratings|csv] [--rating-threshold 4] [--columns user=userId,item=movieId]
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..data.formats import parse_columns
from ..data.interactions import FORMATS, DataError, Interactions, read_interactions
from ..training.als import TrainingParams
from ..training.candidates import SearchGrid
from ..training.encoding import encode
from ..training.options import add_param_arguments, params_from_arguments
from ..training.selection import Selection, as_grid, select
from .against_test import (
    REFERENCE_KIND,
    KindOnTest,
    PickOnTest,
    against_test,
    kinds_against_reference,
)
from .fallback_baseline import fallback_available, fallback_rankings
from .metrics import (
    Scores,
    coverage_of,
    held_out,
    model_rankings,
    per_user_scores,
    popularity_rankings,
    ranking_scores,
    time_split,
)

__all__ = [
    "Evaluation",
    "Row",
    "Scores",
    "add_param_arguments",
    "evaluate",
    "params_from_arguments",
    "ranking_scores",
    "time_split",
]

POPULARITY = "popularity"


@dataclass(frozen=True)
class Row:
    """One line of the table: test scores, and validation scores for candidates."""

    name: str
    test: Scores
    validation: Scores | None = None
    chosen: bool = False


@dataclass(frozen=True)
class Evaluation:
    """The table, the selection behind it, and how well the validation predicted the test."""

    rows: list[Row]
    selection: Selection
    k: int
    notes: list[str]
    pick_on_test: PickOnTest | None = None
    # "folds": the validation the choice used; "newest_order": fold 1 alone (one cut per user).
    agreement: dict[str, dict[str, float] | None] = field(default_factory=dict)
    # Each kind's best on validation against REFERENCE_KIND's, on test (when both were tried).
    kinds: list[KindOnTest] = field(default_factory=list)

    def scores(self, name: str) -> Scores:
        """The test scores of the row called `name` (or "model" for the chosen candidate)."""
        for row in self.rows:
            if row.name == name or (name == "model" and row.chosen):
                return row.test
        raise KeyError(name)

    def as_json(self) -> dict[str, Any]:
        """Test scores per row, the chosen row as "model", and the selection."""
        return {
            "k": self.k,
            "chosen": self.selection.chosen.label,
            "rows": {row.name: asdict(row.test) for row in self.rows},
            "model": asdict(self.scores("model")),
            "selection": self.selection.describe(),
            "pick_on_test": asdict(self.pick_on_test) if self.pick_on_test else None,
            "agreement": self.agreement,
            "kinds": {k.kind: asdict(k) for k in self.kinds},
            "notes": self.notes,
        }


def evaluate(
    interactions: Interactions,
    params: "TrainingParams | SearchGrid | None" = None,
    k: int = 10,
) -> Evaluation:
    """Select on the older part's validation split, score every candidate and baseline on the newest."""
    grid = as_grid(params)
    train, test = time_split(interactions)
    selection = select(train, grid, k)
    evaluation = held_out(train, test)
    catalogue = len(encode(train).item_ids)
    rows = []
    per_user_ndcg = {}
    for candidate, validation in selection.validation:
        model = candidate.fit(train)
        rankings = model_rankings(model, evaluation.user_ids, k)
        precision, recall, ndcg = per_user_scores(rankings, evaluation.relevant, k)
        per_user_ndcg[candidate] = ndcg
        test_scores = Scores(
            float(precision.mean()) if len(ndcg) else 0.0,
            float(recall.mean()) if len(ndcg) else 0.0,
            float(ndcg.mean()) if len(ndcg) else 0.0,
            len(ndcg),
            coverage_of(rankings, k, model.num_items),
        )
        rows.append(Row(candidate.label, test_scores, validation, candidate == selection.chosen))
    pick_on_test, agreement = against_test(selection, per_user_ndcg)
    users, relevant = evaluation.user_ids, evaluation.relevant
    rows.append(
        Row(
            POPULARITY, ranking_scores(popularity_rankings(train, users, k), relevant, k, catalogue)
        )
    )
    notes = list(selection.notes)
    if fallback_available():
        for name, rankings in fallback_rankings(train, users, k).items():
            rows.append(Row(name, ranking_scores(rankings, relevant, k, catalogue)))
    else:
        notes.append("fallback rows left out: the recommendations package is not installed")
    kinds = kinds_against_reference(selection, per_user_ndcg)
    return Evaluation(rows, selection, k, notes, pick_on_test, agreement, kinds)


def format_table(evaluation: Evaluation) -> str:
    """The figures as a fixed-width table; `*` marks the chosen candidate."""
    k = evaluation.k
    # The search's labels (alpha=0.849, reg=0.1 ...) can outgrow the usual 30 columns.
    width = max([30, *(len(row.name) + 2 for row in evaluation.rows)])
    header = (
        f"{'ranking':<{width}} {'val ndcg@' + str(k):>11} {'precision@' + str(k):>13} "
        f"{'recall@' + str(k):>10} {'ndcg@' + str(k):>8} {'coverage':>9} {'users':>6}"
    )
    lines = [header]
    for row in evaluation.rows:
        validation = f"{row.validation.ndcg:.4f}" if row.validation else "-"
        name = ("* " if row.chosen else "  ") + row.name
        s = row.test
        lines.append(
            f"{name:<{width}} {validation:>11} {s.precision:>13.4f} {s.recall:>10.4f} "
            f"{s.ndcg:>8.4f} {s.coverage:>9.4f} {s.users:>6}"
        )
    selection = evaluation.selection
    lines.append(
        f"* chosen on {selection.metric}@{k} over {selection.folds} validation folds (each user's "
        f"newest orders within the training part; {selection.fits} fits of a budget of "
        f"{selection.fit_budget}, {selection.search_seconds:.1f} s of a budget of "
        f"{selection.search_budget_seconds / 60:g} min): the cheapest to serve within the 95% "
        "interval of the best"
    )
    if evaluation.pick_on_test:
        p = evaluation.pick_on_test
        lines.append(
            f"on test, the pick is behind the best ({p.best}) by {p.lead:+.4f} ndcg@{k}, "
            f"95% interval [{p.low:+.4f}, {p.high:+.4f}]"
        )
    for kind in evaluation.kinds:
        if kind.kind != REFERENCE_KIND:
            lines.append(
                f"{kind.kind}'s best on validation ({kind.label}) against {REFERENCE_KIND}'s, on "
                f"test: {kind.lead:+.4f} ndcg@{k}, 95% interval [{kind.low:+.4f}, {kind.high:+.4f}]"
            )
    for name, agreement in evaluation.agreement.items():
        if agreement:
            cut = "the folds" if name == "folds" else "the newest order alone"
            lines.append(
                f"validation-test agreement, {cut}: Kendall tau {agreement['kendall_tau']:+.2f}, "
                f"pairs ordered alike {agreement['pairwise']:.0%}"
            )
    lines.extend(f"note: {note}" for note in evaluation.notes)
    return "\n".join(lines)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--format, --rating-threshold and --columns, for the public data formats."""
    parser.add_argument("--format", choices=FORMATS, default="auto", help="how to read --data")
    parser.add_argument(
        "--rating-threshold",
        type=float,
        default=None,
        help="keep rows rated at least this (ratings files, CSV with a rating column)",
    )
    parser.add_argument(
        "--columns",
        type=_columns,
        default=None,
        help="CSV column names, e.g. user=userId,item=movieId,rating=rating,timestamp=timestamp",
    )


def _columns(text: str) -> dict[str, str]:
    try:
        return parse_columns(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def read_from_arguments(arguments: argparse.Namespace) -> Interactions:
    """The interactions at --data, read as the data options say."""
    return read_interactions(
        arguments.data,
        file_format=arguments.format,
        rating_threshold=arguments.rating_threshold,
        columns=arguments.columns,
    )


def main(argv: list[str] | None = None) -> int:
    """Print every candidate, popularity and the fallback on the time split of --data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a data file or folder")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_data_arguments(parser)
    add_param_arguments(parser)
    arguments = parser.parse_args(argv)
    try:
        grid = params_from_arguments(arguments)
    except ValueError as error:
        parser.error(str(error))
    started = time.perf_counter()
    try:
        interactions = read_from_arguments(arguments)
        evaluation = evaluate(interactions, grid, arguments.k)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.json:
        print(json.dumps(evaluation.as_json(), indent=2))
    else:
        encoded = encode(interactions)
        print(
            f"{len(interactions):,} interactions, {len(encoded.user_ids):,} users, "
            f"{len(encoded.item_ids):,} items"
        )
        print(format_table(evaluation))
        print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
