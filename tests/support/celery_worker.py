"""A real Celery worker in a subprocess, on the real Redis broker, for the integration tests.

The test process publishes through the shop's Celery app (TEST_CELERY_APP) pointed at the same broker; the
worker (prefork, one child) sees the test database, the Redis cache and the model endpoint.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def child_pids(self) -> list[int]:
        """The pool's child processes (where tasks run)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill_child(self) -> int:
        """SIGKILL the process running the task, as the OOM killer or a crash would."""
        (pid,) = self.child_pids()
        os.kill(pid, signal.SIGKILL)
        return pid


@contextmanager
def running_worker(
    work_dir: Path, *, broker_url: str, cache_url: str, recommendations: dict[str, Any]
) -> Iterator[Worker]:
    """Start `celery worker` with tests.support.celery_worker_settings and wait until it is ready."""
    log_path = work_dir / "worker.log"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.celery_worker_settings",
        "WORKER_BASE_SETTINGS": settings.SETTINGS_MODULE,
        "WORKER_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "WORKER_BROKER_URL": broker_url,
        "WORKER_CACHE_URL": cache_url,
        "WORKER_RECOMMENDATIONS": json.dumps(recommendations),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        settings.TEST_CELERY_APP,
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    worker = Worker(process, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "ready." not in worker.log():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{worker.log()}")
            time.sleep(0.1)
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def publishing_to(broker_url: str, transport_options: dict | None = None) -> Iterator[None]:
    """Point the test process's Celery app (the shop's) at another broker for a while."""
    app = import_module(f"{settings.TEST_CELERY_APP}.celery").app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = transport_options or {"visibility_timeout": 30}
    _drop_connections(app)
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = saved
        _drop_connections(app)


def _drop_connections(app: Any) -> None:
    # Celery keeps a connection pool and a producer pool per app, and kombu registers both
    # globally per broker URL; all must forget the old broker.
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def wait_for(condition, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll `condition()` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
