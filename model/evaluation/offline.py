"""Offline evaluation: every candidate model, popularity and the app's fallback on one time split.

Each user's last order is the test set; the models are chosen on a validation split carved from
the older part only (model/training/selection.py), then every candidate is refitted on the whole
older part and scored on the test set with precision, recall, NDCG at k and catalogue coverage,
next to plain popularity and the fallback the shop gets for free
(model/evaluation/fallback_baseline.py).

    python -m model.evaluate --data DIR_OR_FILE [--k 10] [--model auto|als|ease]
        [--format auto|ratings|csv] [--rating-threshold 4] [--columns user=userId,item=movieId]
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..data.formats import parse_columns
from ..data.interactions import FORMATS, DataError, Interactions, read_interactions
from ..training.als import TrainingParams
from ..training.encoding import encode
from ..training.selection import (
    SearchGrid,
    Selection,
    add_param_arguments,
    as_grid,
    params_from_arguments,
    select,
)
from .fallback_baseline import fallback_available, fallback_rankings
from .metrics import (
    Scores,
    held_out,
    popularity_rankings,
    ranking_scores,
    score_model,
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
    """The table and the selection behind it."""

    rows: list[Row]
    selection: Selection
    k: int
    notes: list[str]

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
    for candidate, validation in selection.validation:
        rows.append(
            Row(
                candidate.label,
                score_model(candidate.fit(train), evaluation, k),
                validation,
                candidate == selection.chosen,
            )
        )
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
    return Evaluation(rows, selection, k, notes)


def format_table(evaluation: Evaluation) -> str:
    """The figures as a fixed-width table; `*` marks the chosen candidate."""
    k = evaluation.k
    header = (
        f"{'ranking':<30} {'val ndcg@' + str(k):>11} {'precision@' + str(k):>13} "
        f"{'recall@' + str(k):>10} {'ndcg@' + str(k):>8} {'coverage':>9} {'users':>6}"
    )
    lines = [header]
    for row in evaluation.rows:
        validation = f"{row.validation.ndcg:.4f}" if row.validation else "-"
        name = ("* " if row.chosen else "  ") + row.name
        s = row.test
        lines.append(
            f"{name:<30} {validation:>11} {s.precision:>13.4f} {s.recall:>10.4f} "
            f"{s.ndcg:>8.4f} {s.coverage:>9.4f} {s.users:>6}"
        )
    lines.append(
        f"* chosen by {evaluation.selection.metric}@{k} on the validation split "
        "(each user's newest order within the training part)"
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
