"""A local SageMaker-compatible endpoint: gunicorn serving wsgi.py.

    python -m model.serve --model-dir .var/models/current --port 8080 [--host 127.0.0.1]
        [--endpoint-name demo-recommender] [--access-key ID:SECRET ...]
        [--workers 1] [--threads 8] [--fault MODE] [--fault-latency-ms N] [--watch-interval 1]
        [--control-token TOKEN] [--container-route]

It binds to loopback unless --host says otherwise; access keys and the test controls' token come
from the flags, else the environment (docs/model-server.md). Each worker loads the model once and
swaps to a new one when `current` moves (reloading.py); faults and counters are shared by all.
"""

import argparse
import ipaddress
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from ..inference.handlers import model_fn
from ..inference.recommender import METADATA_FILE
from .reloading import ModelHolder
from .shared_state import FAULT_MODES, MAX_FAULT_LATENCY_MS, SharedState
from .wsgi import EndpointApp, EndpointConfig

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT_NAME = "demo-recommender"


class EndpointServer(BaseApplication):
    """gunicorn with options from code instead of its own command line."""

    def __init__(
        self,
        options: dict[str, Any],
        config: EndpointConfig,
        model_dir: Path,
        watch_interval: float = 1.0,
    ) -> None:
        self.options = options
        self.config = config
        self.model_dir = model_dir
        self.watch_interval = watch_interval
        # Created here, in the master, so every forked worker maps the same memory.
        self.state = SharedState()
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            # Options newer than the installed gunicorn are skipped, not fatal.
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> EndpointApp:
        # Runs in each worker after the fork (no preload): one model per worker, and one watcher.
        holder = ModelHolder(self.model_dir, loader=model_fn, shared=self.state)
        if self.watch_interval > 0:
            holder.watch(self.watch_interval)
        return EndpointApp(holder, self.config, self.state)


def parse_access_keys(values: list[str]) -> dict[str, str]:
    """{"id": "secret"} from "ID:SECRET" strings (comma-separated lists allowed)."""
    secrets: dict[str, str] = {}
    for value in values:
        for pair in value.split(","):
            if not pair.strip():
                continue
            access_key_id, sep, secret = pair.strip().partition(":")
            if not sep or not access_key_id or not secret:
                raise ValueError("access keys must look like ID:SECRET")
            secrets[access_key_id] = secret
    return secrets


def configured_secrets(flag_values: list[str], environ: dict[str, str]) -> dict[str, str]:
    """Access keys from the flags, else SERVE_ACCESS_KEYS, else the AWS_* credentials."""
    if flag_values:
        return parse_access_keys(flag_values)
    if environ.get("SERVE_ACCESS_KEYS"):
        return parse_access_keys([environ["SERVE_ACCESS_KEYS"]])
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return {environ["AWS_ACCESS_KEY_ID"]: environ["AWS_SECRET_ACCESS_KEY"]}
    return {}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=Path(os.environ.get("SM_MODEL_DIR", ".var/models/current")),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--endpoint-name", default=DEFAULT_ENDPOINT_NAME)
    parser.add_argument(
        "--access-key", action="append", default=[], metavar="ID:SECRET", help="repeatable"
    )
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"))
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="production variant names to accept (repeatable); none: accept any",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--fault", choices=FAULT_MODES, default="none")
    parser.add_argument(
        "--fault-latency-ms", type=int, default=0, help=f"0 to {MAX_FAULT_LATENCY_MS}"
    )
    parser.add_argument(
        "--control-token",
        default=os.environ.get("SERVE_CONTROL_TOKEN", ""),
        help="token the test controls want in X-Control-Token "
        "(default: SERVE_CONTROL_TOKEN, else a random one, printed at start-up)",
    )
    parser.add_argument(
        "--container-route",
        action="store_true",
        help="also serve the container's unauthenticated POST /invocations",
    )
    parser.add_argument(
        "--watch-interval",
        type=float,
        default=1.0,
        help="seconds between checks of --model-dir for a new model (0: never)",
    )
    parser.add_argument("--log-level", default="warning")
    return parser


def gunicorn_options(
    *, bind: str, workers: int, threads: int, timeout: int, log_level: str, name: str
) -> dict[str, Any]:
    """gunicorn's settings for the endpoint (local server and container alike)."""
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # SageMaker keeps connections to a container alive; so do boto3's pooled clients.
        "keepalive": 75,
        "timeout": timeout,
        # A hanging fault holds a request up to 30 s: do not wait for it on shutdown.
        "graceful_timeout": 2,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": log_level,
        "proc_name": name,
        # gunicorn 27's control socket has one default path per user: several servers (tests,
        # bench, demo) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }


def main(argv: list[str] | None = None) -> int:
    """Start the server in the foreground until SIGTERM/SIGINT."""
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    if not (arguments.model_dir / METADATA_FILE).is_file():
        print(
            f"error: no model in {arguments.model_dir} (run python -m model.train)", file=sys.stderr
        )
        return 2
    try:
        access_keys = configured_secrets(arguments.access_key, dict(os.environ))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not access_keys:
        print(
            "error: no access keys: pass --access-key ID:SECRET, set SERVE_ACCESS_KEYS, "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            file=sys.stderr,
        )
        return 2
    control_token = arguments.control_token or secrets.token_urlsafe(16)
    config = EndpointConfig(
        endpoint_name=arguments.endpoint_name,
        secrets=access_keys,
        region=arguments.region,
        variants=tuple(arguments.variant),
        container_route=arguments.container_route,
        control_token=control_token,
    )
    options = gunicorn_options(
        bind=f"{arguments.host}:{arguments.port}",
        workers=arguments.workers,
        threads=arguments.threads,
        timeout=120,
        log_level=arguments.log_level,
        name=f"model-serve-{arguments.endpoint_name}",
    )
    server = EndpointServer(options, config, arguments.model_dir, arguments.watch_interval)
    try:
        if arguments.fault != "none" or arguments.fault_latency_ms:
            server.state.set_fault(arguments.fault, arguments.fault_latency_ms)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if arguments.container_route and not _is_loopback_host(arguments.host):
        logger.warning(
            "unauthenticated POST /invocations reachable beyond loopback",
            extra={"bind": options["bind"]},
        )
    if not arguments.control_token:
        # Printed, never logged: the developer copies it into the curl that switches faults.
        print(f"model.serve: test controls token: {control_token}", flush=True)
    logger.info(
        "endpoint starting",
        extra={"endpoint": arguments.endpoint_name, "bind": options["bind"]},
    )
    server.run()
    return 0


def _is_loopback_host(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


if __name__ == "__main__":
    sys.exit(main())
