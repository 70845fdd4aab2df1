"""A real model endpoint for tests: trains a model into a folder and runs `python -m model.serve`.

    with running_model_server(tmp_path) as server:
        client = server.client(read_timeout=1)
        client.invoke_endpoint(EndpointName=server.endpoint_name, Body=b'{"user_id": "u1"}',
                               ContentType="application/json")
        server.set_fault("throttle")          # every invocation now gets a 429 ThrottlingException
        assert server.invocations() == 1

The server is a subprocess (gunicorn, one worker with threads) on a free loopback port, checking
SigV4 against the access key it was given (by default the process's AWS_ACCESS_KEY_ID/SECRET, which
tests/settings.py sets, so the app's boto3 client signs with a key the server accepts). The pytest
fixtures built on it are in tests/conftest.py (`model_server`, `model_server_process`).
"""

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from model.data.interactions import Interactions
from model.data.synthetic import taste_interactions
from model.inference.recommender import Recommender
from model.training.als import TrainingParams, fit

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ENDPOINT_NAME = "test-recommender"
DEFAULT_ACCESS_KEY_ID = "AKIATESTKEY000000000"
DEFAULT_SECRET_ACCESS_KEY = "test-secret-never-logged-0123456789"
START_TIMEOUT = 60.0  # seconds; the machine is shared, imports can be slow under load
CONTROL_TOKEN_HEADER = "X-Control-Token"
_PRINTED_TOKEN = re.compile(r"test controls token: (\S+)")


class AdminRequestFailed(RuntimeError):
    """A test-control request (/_faults, /_stats) was refused; `status` and `body` say why."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class ServerFailedToStart(RuntimeError):
    """The endpoint process exited or never answered /ping; the message holds its log."""


@dataclass
class ModelServer:
    """A running endpoint: where it is, how to call it, and its test controls."""

    url: str
    endpoint_name: str
    region: str
    access_key_id: str
    secret_access_key: str
    model_dir: Path
    model_version: str
    process: subprocess.Popen
    log_path: Path
    known_user_ids: list[str] = field(default_factory=list)
    control_token: str = ""  # what /_faults and /_stats want in the X-Control-Token header

    def client(self, **config: Any) -> Any:
        """A boto3 `sagemaker-runtime` client for this server; one attempt unless `retries` given.

        Keyword arguments go to botocore's Config (read_timeout=..., connect_timeout=...). Note that
        botocore's `max_attempts` counts retries (1 means two calls); `total_max_attempts` counts
        calls, so 1 is what makes every fault visible to the test.
        """
        config.setdefault("retries", {"total_max_attempts": 1, "mode": "standard"})
        return boto3.session.Session().client(
            "sagemaker-runtime",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(**config),
        )

    def invoke(self, document: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """InvokeEndpoint with a JSON document; returns the parsed JSON response body."""
        response = self.client().invoke_endpoint(
            EndpointName=self.endpoint_name,
            Body=json.dumps(document).encode(),
            ContentType="application/json",
            **kwargs,
        )
        return json.loads(response["Body"].read())

    def set_fault(self, mode: str, latency_ms: int = 0) -> None:
        """Switch the fault ("none", "hang", "http500", "throttle", "garbage", "model_error",
        "unavailable") and the added latency; "none" also releases hanging requests."""
        self._admin("POST", "/_faults", {"mode": mode, "latency_ms": latency_ms})

    def fault(self) -> dict[str, Any]:
        """The active fault: {"mode": ..., "latency_ms": N}."""
        return self._admin("GET", "/_faults")

    def stats(self) -> dict[str, Any]:
        """{"invocations": N, "instances": N, "by_variant": {variant: N}} since the last reset."""
        return self._admin("GET", "/_stats")

    def invocations(self) -> int:
        """Invocations that reached the endpoint (authenticated, any outcome) since the last reset."""
        return int(self.stats()["invocations"])

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._admin("POST", "/_stats/reset")

    def recommendations_settings(self) -> dict[str, Any]:
        """The RECOMMENDATIONS entries that point the app's sagemaker backend at this server."""
        return {
            "BACKEND": "sagemaker",
            "ENDPOINT_NAME": self.endpoint_name,
            "ENDPOINT_URL": self.url,
            "REGION": self.region,
        }

    def log(self) -> str:
        """What the server wrote to stdout/stderr so far."""
        return self.log_path.read_text(errors="replace")

    def _admin(self, method: str, path: str, document: dict[str, Any] | None = None) -> Any:
        data = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data if method == "POST" else None,
            method=method,
            headers={"Content-Type": "application/json", CONTROL_TOKEN_HEADER: self.control_token},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            # Read and close at once: a socket left open after the server's close keeps
            # gunicorn 27's gthread main loop lingering on it for up to 2 s.
            with exc:
                raise AdminRequestFailed(exc.code, exc.read().decode(errors="replace")) from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_training_data() -> Interactions:
    """Small synthetic data with taste structure: 200 users ("user-0".."user-199"), 80 items."""
    return taste_interactions(num_users=200, num_items=80, num_categories=5, seed=7)


def train_model(
    model_dir: Path, interactions: Interactions | None = None, params: TrainingParams | None = None
) -> tuple[str, list[str]]:
    """Fit and save a model into `model_dir`; returns (model_version, known user ids)."""
    model = fit(interactions if interactions is not None else default_training_data(), params)
    model.save(model_dir)
    return model.model_version, model.user_ids.tolist()


@contextmanager
def running_model_server(
    work_dir: Path,
    interactions: Interactions | None = None,
    *,
    params: TrainingParams | None = None,
    endpoint_name: str = DEFAULT_ENDPOINT_NAME,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
    extra_args: tuple[str, ...] = (),
    model_dir: Path | None = None,
    control_token: str | None = None,
) -> Iterator[ModelServer]:
    """Train into `work_dir/model`, start the endpoint on a free port, stop it on exit.

    `interactions` defaults to `default_training_data()`; `extra_args` go to model.serve
    (e.g. ("--variant", "A", "--variant", "B") or ("--threads", "16")). With `model_dir`, the
    server serves that path as it is (e.g. a `current` symlink that model/release.py switches).
    The test controls' token is `control_token`, else a random one, passed in SERVE_CONTROL_TOKEN;
    with `control_token=""` the server makes its own and the token it prints is used.
    """
    if model_dir is None:
        model_dir = work_dir / "model"
        model_version, user_ids = train_model(model_dir, interactions, params)
    else:
        loaded = Recommender.load(model_dir)
        model_version, user_ids = loaded.model_version, loaded.user_ids.tolist()
    access_key_id = access_key_id or os.environ.get("AWS_ACCESS_KEY_ID") or DEFAULT_ACCESS_KEY_ID
    secret_access_key = (
        secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY") or DEFAULT_SECRET_ACCESS_KEY
    )
    region = region or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    if control_token is None:
        control_token = secrets.token_urlsafe(16)
    server = None
    for attempt in range(3):
        port = free_port()
        log_path = work_dir / f"serve-{port}.log"
        command = [
            sys.executable,
            "-m",
            "model.serve",
            "--model-dir",
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--endpoint-name",
            endpoint_name,
            "--region",
            region,
            *extra_args,
        ]
        # The key goes through the environment, not argv, so it never shows in a process list.
        environment = {**os.environ, "SERVE_ACCESS_KEYS": f"{access_key_id}:{secret_access_key}"}
        environment.pop("SERVE_CONTROL_TOKEN", None)
        if control_token:
            environment["SERVE_CONTROL_TOKEN"] = control_token
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = ModelServer(
            url=f"http://127.0.0.1:{port}",
            endpoint_name=endpoint_name,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            model_dir=model_dir,
            model_version=model_version,
            process=process,
            log_path=log_path,
            known_user_ids=user_ids,
            control_token=control_token,
        )
        try:
            _wait_until_up(server)
            if not control_token:
                server.control_token = _printed_token(server)
            break
        except ServerFailedToStart:
            _stop(process)
            # Another process may have taken the free port between our check and the bind.
            if attempt == 2 or "Address already in use" not in server.log():
                raise
    assert server is not None
    try:
        yield server
    finally:
        _stop(server.process)


def _wait_until_up(server: ModelServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailedToStart(
                f"model.serve exited with {server.process.returncode}:\n{server.log()}"
            )
        try:
            with urllib.request.urlopen(server.url + "/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise ServerFailedToStart(
        f"model.serve did not answer /ping in {START_TIMEOUT} s:\n{server.log()}"
    )


def _printed_token(server: ModelServer) -> str:
    """The token the server printed at start-up (it is up, so the line is in its log)."""
    match = _PRINTED_TOKEN.search(server.log())
    if match is None:
        raise ServerFailedToStart(f"model.serve printed no control token:\n{server.log()}")
    return match[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
