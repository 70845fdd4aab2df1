"""Training: read interactions, choose and fit a model, save it with its metrics and baseline.

    python -m model.train --train .var/training --model-dir .var/model [--model auto|als|ease]

Follows SageMaker's training-script conventions: hyperparameters arrive as command-line options,
and the `SM_CHANNEL_TRAIN`/`SM_MODEL_DIR` defaults are what a framework container's toolkit sets
(our own image passes the folders as options: model/aws/container.py). The choice is made on a
validation folds (selection.py): with the evaluation, on the older part of its time split, so the
test figures stay honest and metrics.json says how well the validation order of the candidates
agreed with their test order; with --no-evaluate, on all the data. `--hold-out-days N` leaves the
newest N days out, for `python -m model.promote` to judge the model on.
"""

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..data.interactions import DataError, read_interactions
from ..evaluation.offline import evaluate
from .als import TrainingParams
from .candidates import SearchGrid
from .dlae import DlaeParams
from .drift_baseline import build_baseline, write_baseline
from .ease import EaseParams
from .options import add_param_arguments, params_from_arguments
from .rp3beta import Rp3BetaParams
from .selection import as_grid, select

logger = logging.getLogger(__name__)

DEFAULT_TRAIN_DIR = ".var/training"
DEFAULT_MODEL_DIR = ".var/model"
METRICS_FILE = "metrics.json"
DAY = 86_400.0


def train(
    train_dir: Path | str,
    model_dir: Path | str,
    params: TrainingParams | EaseParams | DlaeParams | Rp3BetaParams | SearchGrid | None = None,
    run_evaluation: bool = True,
    hold_out_days: float = 0.0,
) -> dict[str, Any]:
    """Select, fit on everything in `train_dir`, save to `model_dir`, return the metrics written.

    `params`: one setting of any kind (no selection), a SearchGrid, or None for the default search.
    """
    grid = as_grid(params)
    model_dir = Path(model_dir)
    started = time.perf_counter()
    interactions = read_interactions(train_dir)
    if hold_out_days > 0 and len(interactions):
        cutoff = float(interactions.timestamps.max()) - hold_out_days * DAY
        interactions = interactions.select(interactions.timestamps < cutoff)
        if not len(interactions):
            raise DataError(f"--hold-out-days {hold_out_days:g} leaves no data to train on")
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    evaluation = evaluate(interactions, grid) if run_evaluation else None
    selection = evaluation.selection if evaluation else select(interactions, grid)
    select_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model = selection.chosen.fit(interactions)
    fit_seconds = time.perf_counter() - started
    model.save(model_dir)
    write_baseline(build_baseline(interactions, model.model_version), model_dir)
    metrics: dict[str, Any] = {
        "model_version": model.model_version,
        "model": model.kind,
        "interactions": len(interactions),
        "users": model.num_users,
        "items": model.num_items,
        "read_seconds": round(read_seconds, 3),
        "select_seconds": round(select_seconds, 3),
        "fit_seconds": round(fit_seconds, 3),
        "trained_until": float(interactions.timestamps.max()) if len(interactions) else None,
        "params": asdict(selection.chosen.params),
        "selection": selection.describe(),
    }
    if evaluation:
        metrics["evaluation"] = evaluation.as_json()["rows"]
        metrics["evaluation"]["model"] = asdict(evaluation.scores("model"))
        document = evaluation.as_json()
        metrics["agreement"] = document["agreement"]
        metrics["pick_on_test"] = document["pick_on_test"]
    (model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def build_parser() -> argparse.ArgumentParser:
    """The command's options (hyperparameters become these: none abbreviated)."""
    # Abbreviations off: a hyperparameter `tra` must not be read as --train.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument(
        "--train", type=Path, default=Path(os.environ.get("SM_CHANNEL_TRAIN", DEFAULT_TRAIN_DIR))
    )
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
    )
    parser.add_argument("--no-evaluate", action="store_true", help="skip the time-split evaluation")
    parser.add_argument(
        "--hold-out-days",
        type=float,
        default=0.0,
        help="leave the newest N days out, for model.promote's held-out period",
    )
    add_param_arguments(parser)
    return parser


def option_names() -> set[str]:
    """Every option string `python -m model.train` takes ("--factors", ...)."""
    # argparse has no public listing of a parser's options; `_actions` is its own record of them.
    return {option for action in build_parser()._actions for option in action.option_strings}


def main(argv: list[str] | None = None) -> int:
    """Command line: train and print the metrics SageMaker's metric definitions can scrape."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        grid = params_from_arguments(arguments)
    except ValueError as error:
        parser.error(str(error))
    try:
        metrics = train(
            arguments.train,
            arguments.model_dir,
            grid,
            run_evaluation=not arguments.no_evaluate,
            hold_out_days=arguments.hold_out_days,
        )
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    output_dir = os.environ.get("SM_OUTPUT_DATA_DIR")
    if output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"model_version={metrics['model_version']}")
    print(f"model={metrics['model']} chosen={metrics['selection']['chosen_label']}")
    selection = metrics["selection"]
    print(
        f"selection: {len(selection['candidates'])} candidates on {selection['folds']} folds, "
        f"{selection['fits']} fits of a budget of {selection['fit_budget']}, "
        f"{selection['search_seconds']:.1f} s of a budget of {selection['search_minutes']:g} min"
    )
    print(
        f"interactions={metrics['interactions']} users={metrics['users']} "
        f"items={metrics['items']} fit_seconds={metrics['fit_seconds']}"
    )
    for name, scores in metrics.get("evaluation", {}).items():
        print(
            f"{name}: precision@10={scores['precision']:.4f} recall@10={scores['recall']:.4f} "
            f"ndcg@10={scores['ndcg']:.4f}"
        )
    print(f"model written to {arguments.model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
