"""Training entry point, following SageMaker's training-script conventions.

Reads interactions (CSV or JSON Lines: user_id, item_id, weight, timestamp) from the training
channel folder `SM_CHANNEL_TRAIN` and writes the model to `SM_MODEL_DIR`; hyperparameters arrive
as command-line options, as SageMaker passes them. Locally:

    python -m model.train --train .var/training --model-dir .var/model [--model auto|als|ease]

The model and its hyperparameters are chosen on a validation split (model/selection.py): with
the evaluation, on the older part of its time split, so the test figures are honest for the
choice; with --no-evaluate, on all the data. The winner is then fitted on all the data.
Writes `model.npz` + `model.json` (with `model_version`, a hash of data and parameters) and
`metrics.json` (sizes, fit time, the selection with its validation scores, and the time-split
evaluation unless --no-evaluate).
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

from .data import DataError, read_interactions
from .ease import EaseParams
from .evaluate import add_param_arguments, evaluate, params_from_arguments
from .fitting import TrainingParams
from .selection import SearchGrid, as_grid, select

logger = logging.getLogger(__name__)

DEFAULT_TRAIN_DIR = ".var/training"
DEFAULT_MODEL_DIR = ".var/model"
METRICS_FILE = "metrics.json"


def train(
    train_dir: Path | str,
    model_dir: Path | str,
    params: TrainingParams | EaseParams | SearchGrid | None = None,
    run_evaluation: bool = True,
) -> dict[str, Any]:
    """Select, fit on everything in `train_dir`, save to `model_dir`, return the metrics written.

    `params`: one ALS or EASE setting (no selection), a SearchGrid, or None for the default grid.
    """
    grid = as_grid(params)
    model_dir = Path(model_dir)
    started = time.perf_counter()
    interactions = read_interactions(train_dir)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    evaluation = evaluate(interactions, grid) if run_evaluation else None
    selection = evaluation.selection if evaluation else select(interactions, grid)
    select_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model = selection.chosen.fit(interactions)
    fit_seconds = time.perf_counter() - started
    model.save(model_dir)
    metrics: dict[str, Any] = {
        "model_version": model.model_version,
        "model": model.kind,
        "interactions": len(interactions),
        "users": model.num_users,
        "items": model.num_items,
        "read_seconds": round(read_seconds, 3),
        "select_seconds": round(select_seconds, 3),
        "fit_seconds": round(fit_seconds, 3),
        "params": asdict(selection.chosen.params),
        "selection": selection.describe(),
    }
    if evaluation:
        metrics["evaluation"] = evaluation.as_json()["rows"]
        metrics["evaluation"]["model"] = asdict(evaluation.scores("model"))
    (model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Command line: train and print the metrics SageMaker's metric definitions can scrape."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--train", type=Path, default=Path(os.environ.get("SM_CHANNEL_TRAIN", DEFAULT_TRAIN_DIR))
    )
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
    )
    parser.add_argument("--no-evaluate", action="store_true", help="skip the time-split evaluation")
    add_param_arguments(parser)
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
