"""Releasing a model: train into a versioned folder, then point the `current` symlink at it.

    python -m model.release --train .var/training --models-dir .var/models [--keep 3]
        [--no-evaluate] [--wait-for http://127.0.0.1:8080/ping] [hyperparameters as model.train]

1. train on every file in --train into a staging folder under --models-dir;
2. rename the folder to the model's version (the same data and parameters give the same version:
   then that folder is already there and is simply made current again);
3. make a new symlink under a temporary name and rename it over `current`: a rename is atomic, so
   a reader (the local endpoint's watcher) sees the old target or the new one, never no model;
4. remove the oldest versions beyond --keep (never the current one): the previous ones stay for a
   rollback, `python -m model.release --models-dir .var/models --activate VERSION`;
5. with --wait-for, wait until the running server answers /ping with the new version.
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from ..data.interactions import DataError
from ..inference.recommender import METADATA_FILE
from .options import add_param_arguments, params_from_arguments
from .run import train

logger = logging.getLogger(__name__)

CURRENT = "current"
DEFAULT_MODELS_DIR = ".var/models"
WAIT_SECONDS = 30.0


def release(
    train_dir: Path | str,
    models_dir: Path | str,
    run_evaluation: bool = True,
    keep: int = 3,
    **train_options,
) -> dict:
    """Train, publish as `<models_dir>/<version>`, make it current; returns the training metrics."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".staging-{uuid.uuid4().hex}"
    try:
        metrics = train(train_dir, staging, run_evaluation=run_evaluation, **train_options)
        version_dir = models_dir / metrics["model_version"]
        if version_dir.exists():
            shutil.rmtree(staging)  # the same model again: keep the folder that may be served
        else:
            os.rename(staging, version_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    activate(models_dir, metrics["model_version"])
    prune(models_dir, keep)
    return metrics


def activate(models_dir: Path | str, version: str) -> str | None:
    """Point `current` at `version` atomically; returns the version it pointed at before."""
    models_dir = Path(models_dir)
    target = models_dir / version
    if not (target / METADATA_FILE).is_file():
        raise FileNotFoundError(f"{target}: no model there")
    previous = current_version(models_dir)
    link = models_dir / f".{CURRENT}-{uuid.uuid4().hex}"
    # Relative, so that the models folder can be moved or mounted elsewhere.
    os.symlink(version, link)
    try:
        os.replace(link, models_dir / CURRENT)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    os.utime(target)  # the newest release is the last one pruned
    descriptor = os.open(models_dir, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return previous


def current_version(models_dir: Path | str) -> str | None:
    """The version `current` points at, or None."""
    link = Path(models_dir) / CURRENT
    try:
        return os.readlink(link)
    except (FileNotFoundError, OSError):
        return None


def prune(models_dir: Path | str, keep: int) -> list[str]:
    """Remove the oldest version folders beyond `keep`; the current one always stays."""
    models_dir = Path(models_dir)
    current = current_version(models_dir)
    versions = sorted(
        (
            path
            for path in models_dir.iterdir()
            if path.is_dir() and not path.is_symlink() and not path.name.startswith(".")
        ),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    removed = []
    for path in versions[max(keep, 1) :]:
        if path.name == current:
            continue
        # A server holds its model in memory: the folder is not needed once it was loaded.
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def wait_until_served(url: str, version: str, timeout: float = WAIT_SECONDS) -> bool | None:
    """Poll the server's /ping until it reports `version`: True; False on timeout; None if down."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - an operator's URL
                served = json.loads(response.read()).get("model_version")
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):
                return None
            served = None
        except (OSError, ValueError):
            served = None
        if served == version:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    """Command line: release a new model, or --activate an earlier one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--train", type=Path, help="folder of training data (model.train's --train)"
    )
    parser.add_argument("--models-dir", type=Path, default=Path(DEFAULT_MODELS_DIR))
    parser.add_argument("--keep", type=int, default=3, help="versions kept for a rollback")
    parser.add_argument("--activate", metavar="VERSION", help="make an earlier version current")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the time-split evaluation")
    parser.add_argument("--wait-for", metavar="PING_URL", help="wait until this server serves it")
    add_param_arguments(parser)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if arguments.activate:
        try:
            previous = activate(arguments.models_dir, arguments.activate)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        version = arguments.activate
    else:
        if arguments.train is None:
            parser.error("--train is required (or --activate VERSION)")
        previous = current_version(arguments.models_dir)
        try:
            metrics = release(
                arguments.train,
                arguments.models_dir,
                run_evaluation=not arguments.no_evaluate,
                keep=arguments.keep,
                params=params_from_arguments(arguments),
            )
        except DataError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        version = metrics["model_version"]
        print(
            f"interactions={metrics['interactions']} users={metrics['users']} "
            f"items={metrics['items']} fit_seconds={metrics['fit_seconds']}"
        )
    changed = "unchanged" if previous == version else f"was {previous or 'none'}"
    print(f"model_version={version} is current in {arguments.models_dir} ({changed})")
    if arguments.wait_for:
        served = wait_until_served(arguments.wait_for, version)
        if served is None:
            print(f"no server at {arguments.wait_for}: it loads this model when it starts")
        elif served:
            print(f"{arguments.wait_for} serves {version}")
        else:
            print(f"error: {arguments.wait_for} still does not serve {version}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
