"""The bring-your-own-container entrypoint: `serve` and `train` by SageMaker's /opt/ml contract.

    python -m model.container serve     # what `docker run IMAGE serve` runs (model/Dockerfile)
    python -m model.container train     # what `docker run IMAGE train` runs

`serve` answers `GET /ping` and `POST /invocations` unauthenticated (SageMaker's front door has
checked the caller), with no test controls and no model watcher: a SageMaker model is fixed for
the container's life. `train` turns each SageMaker hyperparameter (always a string) into the
`python -m model.train` option of the same name, and on failure writes the reason to
/opt/ml/output/failure, which SageMaker shows as the job's FailureReason. The environment
variables each reads are in docs/container.md; `OPT_ML_ROOT` moves /opt/ml for the tests.
"""

import contextlib
import io
import json
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .hyperparameters import SDK_PREFIX, HyperparameterError, option_for

ROOT_VARIABLE = "OPT_ML_ROOT"
DEFAULT_ROOT = "/opt/ml"
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_SECONDS = 60
THREADS_PER_WORKER = 8
MAX_FAILURE_CHARS = 1024  # SageMaker keeps the first 1024 characters as FailureReason
TRUE_WORDS = ("true", "True", "TRUE")
FALSE_WORDS = ("false", "False", "FALSE")

logger = logging.getLogger(__name__)


class ContainerError(Exception):
    """The container is misconfigured (a bad environment variable, no model): exit non-zero."""


@dataclass(frozen=True)
class Paths:
    """SageMaker's /opt/ml layout under one root."""

    root: Path

    @property
    def model(self) -> Path:
        """Where the model is read from and written to."""
        return self.root / "model"

    @property
    def train_channel(self) -> Path:
        """The training channel's files."""
        return self.root / "input" / "data" / "train"

    @property
    def hyperparameters(self) -> Path:
        """SageMaker's hyperparameters, every value a string."""
        return self.root / "input" / "config" / "hyperparameters.json"

    @property
    def output_data(self) -> Path:
        """Extra job output, uploaded as output.tar.gz."""
        return self.root / "output" / "data"

    @property
    def failure(self) -> Path:
        """The failure reason SageMaker reports."""
        return self.root / "output" / "failure"


def paths_from(environ: Mapping[str, str]) -> Paths:
    """The /opt/ml tree, under OPT_ML_ROOT when set."""
    return Paths(Path(environ.get(ROOT_VARIABLE) or DEFAULT_ROOT))


@dataclass(frozen=True)
class ServeSettings:
    """How `serve` runs gunicorn, from SageMaker's environment variables."""

    host: str
    port: int
    workers: int
    timeout_seconds: int
    workers_reason: str = "SAGEMAKER_MODEL_SERVER_WORKERS"


def serve_settings(environ: Mapping[str, str], model_dir: Path | None = None) -> ServeSettings:
    """Read SAGEMAKER_MODEL_SERVER_WORKERS/_TIMEOUT and SAGEMAKER_BIND_TO_PORT; ContainerError.

    Without SAGEMAKER_MODEL_SERVER_WORKERS, the workers are what the memory holds for the model
    in `model_dir`, at most one per CPU.
    """
    from . import worker_sizing

    if environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", "").strip():
        count = worker_sizing.WorkerCount(
            _positive(environ, "SAGEMAKER_MODEL_SERVER_WORKERS", 1),
            "SAGEMAKER_MODEL_SERVER_WORKERS",
        )
    else:
        count = worker_sizing.default_workers(
            os.cpu_count() or 1,
            worker_sizing.available_bytes(),
            worker_sizing.model_bytes(model_dir) if model_dir else 0,
        )
    return ServeSettings(
        host=environ.get("CONTAINER_BIND_HOST") or "0.0.0.0",  # noqa: S104 (the container's contract)
        port=_positive(environ, "SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT),
        workers=count.workers,
        timeout_seconds=_positive(
            environ, "SAGEMAKER_MODEL_SERVER_TIMEOUT", DEFAULT_TIMEOUT_SECONDS
        ),
        workers_reason=count.reason,
    )


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ContainerError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ContainerError(f"{name} must be at least 1, not {value}")
    return value


def serve(environ: Mapping[str, str]) -> int:
    """Run the container's model server in the foreground (gunicorn, until SIGTERM)."""
    from ..inference.recommender import METADATA_FILE
    from ..local_endpoint.server import EndpointServer, gunicorn_options
    from ..local_endpoint.wsgi import EndpointConfig

    paths = paths_from(environ)
    if not (paths.model / METADATA_FILE).is_file():
        raise ContainerError(f"no model in {paths.model}")
    settings = serve_settings(environ, paths.model)
    config = EndpointConfig(
        endpoint_name=environ.get("SAGEMAKER_ENDPOINT_NAME", "container"),
        secrets={},
        runtime_route=False,
        container_route=True,
        control_token=None,
    )
    options = gunicorn_options(
        bind=f"{settings.host}:{settings.port}",
        workers=settings.workers,
        threads=THREADS_PER_WORKER,
        timeout=settings.timeout_seconds,
        log_level=environ.get("LOG_LEVEL", "info").lower(),
        name="model-container",
    )
    logger.info(
        "container serving with %d workers (%s)",
        settings.workers,
        settings.workers_reason,
        extra={"bind": options["bind"], "workers": settings.workers, "model_dir": str(paths.model)},
    )
    EndpointServer(options, config, paths.model, watch_interval=0).run()
    return 0


def hyperparameter_arguments(hyperparameters: Mapping[str, object]) -> list[str]:
    """`python -m model.train` options from hyperparameters.json's (string) values.

    ContainerError for a hyperparameter that would set the data or model folder.
    """
    arguments: list[str] = []
    for name, value in sorted(hyperparameters.items()):
        if name.startswith(SDK_PREFIX):
            continue
        try:
            option = option_for(name)
        except HyperparameterError as exc:
            raise ContainerError(str(exc)) from None
        text = value if isinstance(value, str) else json.dumps(value)
        if text in TRUE_WORDS:
            arguments.append(option)
        elif text not in FALSE_WORDS:
            # One token, so a value that starts with "-" is never read as an option.
            arguments.append(f"{option}={text}")
    return arguments


def read_hyperparameters(path: Path) -> dict[str, object]:
    """hyperparameters.json as a dict ({} when SageMaker wrote none); ContainerError if broken."""
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text())
    except ValueError as exc:
        raise ContainerError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ContainerError(f"{path.name} must hold a JSON object")
    return document


class _Tee(io.TextIOBase):
    """Writes to the real stream and keeps a copy, so the failure file can quote the error."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        return self.copy.write(text)

    def flush(self) -> None:
        self.stream.flush()


def train(environ: Mapping[str, str]) -> int:
    """Train from the channel into /opt/ml/model; on failure write output/failure, return 1."""
    from ..training import run as training

    paths = paths_from(environ)
    tee = _Tee(sys.stderr)
    status: int | str | None
    try:
        argv = [
            "--train",
            str(paths.train_channel),
            "--model-dir",
            str(paths.model),
            *hyperparameter_arguments(read_hyperparameters(paths.hyperparameters)),
        ]
        with contextlib.redirect_stderr(tee):
            try:
                status = training.main(argv)
            except SystemExit as exit_:  # argparse refusing a hyperparameter
                status = exit_.code
        if status in (0, None):
            metrics = paths.model / training.METRICS_FILE
            if metrics.is_file():
                # SageMaker uploads output/data as the job's output.tar.gz.
                paths.output_data.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(metrics, paths.output_data / training.METRICS_FILE)
            return 0
        reason = _last_error(tee.copy.getvalue()) or f"training exited with status {status}"
    except ContainerError as exc:
        reason = str(exc)
    except Exception as exc:
        traceback.print_exc()
        reason = f"{type(exc).__name__}: {exc}"
    write_failure(paths, reason)
    return 1


def _last_error(text: str) -> str:
    """The last `error: ...` line train.py or argparse printed, without the program name."""
    for line in reversed(text.strip().splitlines()):
        if "error: " in line:
            return line[line.index("error: ") :]
    return ""


def write_failure(paths: Paths, reason: str) -> None:
    """Write SageMaker's failure file (its first 1024 characters become FailureReason)."""
    paths.failure.parent.mkdir(parents=True, exist_ok=True)
    paths.failure.write_text(reason[:MAX_FAILURE_CHARS] + "\n")
    print(f"training failed: {reason}", file=sys.stderr)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """`serve` or `train`, as SageMaker passes it after the image's ENTRYPOINT."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    logging.basicConfig(
        level=environ.get("LOG_LEVEL", "INFO").upper(), format="%(levelname)s %(name)s %(message)s"
    )
    command = argv[0] if argv else ""
    try:
        if command == "serve":
            return serve(environ)
        if command == "train":
            return train(environ)
    except ContainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("usage: python -m model.container {serve,train}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
