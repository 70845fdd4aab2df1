"""The demo shop served for real: a seeded throwaway database, a private Redis, gunicorn on loopback.

    with private_redis(work_dir) as redis_server:
        env = shop_environment(database_url, redis_url=redis_server.url(0))
        seed_shop(env, products=300, customers=500, lines=10_000, seed=7)
        setup_django(env)                    # this process now talks to the same database
        cookies = login_customers()          # one session per customer, made directly in the DB
        with serving_shop("plain", {**env, "DEMO_RECOMMENDATIONS_WIDGET": "false"}, work_dir) as shop:
            run_load(shop.port, "/", cookies, ...)

Every server binds 127.0.0.1 on a free port. Each bench scenario gets its own Redis database
number, so that one scenario's cache entries and breaker state never leak into another's.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "bench"
PYTHON = sys.executable
START_TIMEOUT = 60.0  # seconds; the machine is shared and Django imports are slow under load

# The credentials the bench's model endpoints accept (local servers only, never AWS).
ACCESS_KEY_ID = "AKIABENCH00000000000"
SECRET_ACCESS_KEY = "bench-secret-not-for-aws-0123456789"  # noqa: S105 - local servers only
REGION = "eu-west-1"
SECRET_KEY = "bench-django-secret-key-not-for-production"  # noqa: S105 - throwaway bench shop

# Inherited variables that would point a bench process at something it must not touch.
_NOT_INHERITED = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shop_environment(database_url: str, redis_url: str) -> dict[str, str]:
    """Environment of every bench process: bench settings, this database, this Redis, local keys."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "harness.django_settings",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH_DIR)]),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECRET_KEY": SECRET_KEY,
            "LOG_LEVEL": "WARNING",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            # Never read the developer's own AWS configuration.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "DEMO_RECOMMENDATIONS_WIDGET": "true",
            # Every customer in the arm a scenario names (the demo holds 20% out on the fallback and
            # shows 20% no widget at all); impressions and signed click links on, as the demo ships.
            "RECOMMENDATIONS_HOLDOUT_SHARE": "0",
            "RECOMMENDATIONS_CONTROL_SHARE": "0",
            "RECOMMENDATIONS_TRACKING": "true",
            "BENCH_RECOMMENDATIONS": "{}",
        }
    )
    return env


def with_recommendations(env: Mapping[str, str], **overrides: Any) -> dict[str, str]:
    """`env` with RECOMMENDATIONS entries the demo does not read from the environment."""
    merged = {**json.loads(env.get("BENCH_RECOMMENDATIONS") or "{}"), **overrides}
    return {**env, "BENCH_RECOMMENDATIONS": json.dumps(merged)}


def manage(env: Mapping[str, str], *args: str) -> str:
    """Run `manage.py args` with `env`; its output, or an exception carrying it on failure."""
    done = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


@contextmanager
def work_folder(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A new temporary folder for one bench run; removed afterwards unless `keep`."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"work folder kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def add_shop_arguments(parser: Any) -> None:
    """The options every bench takes for its throwaway shop (see `seed_shop`)."""
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)


def seed_shop_as_asked(env: Mapping[str, str], options: Any) -> None:
    """`seed_shop` with the options `add_shop_arguments` added."""
    seed_shop(
        env,
        products=options.products,
        customers=options.customers,
        lines=options.lines,
        seed=options.seed,
    )


def seed_shop(
    env: Mapping[str, str], *, products: int, customers: int, lines: int, seed: int
) -> None:
    """Migrate, seed the demo data and compute the fallback ranking in the database of `env`."""
    manage(env, "migrate", "--verbosity", "0")
    manage(
        env,
        "seed_demo",
        "--products",
        str(products),
        "--customers",
        str(customers),
        "--lines",
        str(lines),
        "--seed",
        str(seed),
        "--force",  # the bench runs with DEBUG off, like a deployment
        "--verbosity",
        "0",
    )
    manage(env, "recommendations_refresh_fallback", "--verbosity", "0")


def setup_django(env: Mapping[str, str]) -> None:
    """Configure Django in this process with the bench settings and database of `env`."""
    for name in _NOT_INHERITED:
        os.environ.pop(name, None)
    os.environ.update(env)
    for path in (str(ROOT), str(BENCH_DIR)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()


def login_customers() -> list[tuple[int, str]]:
    """A fresh session for every demo customer, as (user id, Cookie header value), by user id.

    Sessions are made directly in the session store, as a login would make them, so the bench
    needs no password round trips and the server sees ordinary logged-in visitors.
    """
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    cookies = []
    users = get_user_model().objects.filter(username__startswith="customer").order_by("pk")
    for user in users:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        cookies.append((user.pk, f"{settings.SESSION_COOKIE_NAME}={session.session_key}"))
    return cookies


def training_interactions() -> Any:
    """The shop's order lines as model training data, keyed by pseudonym (as an export would be)."""
    import numpy as np

    from model.data.interactions import Interactions
    from recommendations.catalog import get_catalog
    from recommendations.tracking.pseudonyms import pseudonym

    users, items, weights, timestamps = [], [], [], []
    for chunk in get_catalog().interaction_chunks():
        users.extend(pseudonym(int(user_id)) for user_id in chunk.user_ids)
        items.extend(str(int(item_id)) for item_id in chunk.item_ids)
        weights.append(chunk.weights)
        timestamps.append(chunk.timestamps)
    return Interactions(
        np.array(users, dtype=str),
        np.array(items, dtype=str),
        np.concatenate(weights).astype(np.float32),
        np.concatenate(timestamps).astype(np.float64),
    )


@contextmanager
def model_endpoint(work_dir: Path, interactions: Any, fault: str = "none") -> Iterator[Any]:
    """`python -m model.serve` trained on `interactions`, with `fault` switched on."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.model_server import running_model_server

    work_dir.mkdir(parents=True, exist_ok=True)
    with running_model_server(
        work_dir,
        interactions,
        endpoint_name="bench-recommender",
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        region=REGION,
        # Enough threads that hanging requests do not starve the ones that should get through.
        extra_args=("--threads", "32"),
    ) as server:
        if fault != "none":
            server.set_fault(fault)
        yield server


def endpoint_environment(server: Any) -> dict[str, str]:
    """The demo's environment variables that point the shop at a model endpoint."""
    return {
        "RECOMMENDATIONS_BACKEND": "sagemaker",
        "RECOMMENDATIONS_ENDPOINT_NAME": server.endpoint_name,
        "RECOMMENDATIONS_ENDPOINT_URL": server.url,
    }


@dataclass
class PrivateRedis:
    """A redis-server of the bench's own, so flushing a database never touches anyone else's."""

    port: int
    process: subprocess.Popen

    def url(self, db: int) -> str:
        """The REDIS_URL of database `db`."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int) -> Any:
        """A redis-py client on database `db`."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db)

    def delete_matching(self, db: int, pattern: str) -> int:
        """Delete the keys of database `db` that match `pattern`; how many there were."""
        client = self.client(db)
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)


@contextmanager
def private_redis(work_dir: Path) -> Iterator[PrivateRedis]:
    """Start `redis-server` on a free loopback port (no persistence); stop it on exit."""
    import redis

    port = free_port()
    log_path = work_dir / "redis.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(work_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = PrivateRedis(port, process)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{log_path.read_text()}")
            try:
                if redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)
        yield server
    finally:
        stop(process)


@dataclass
class ShopServer:
    """A gunicorn serving the demo shop."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What gunicorn and Django wrote so far."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def serving_shop(
    name: str,
    env: Mapping[str, str],
    work_dir: Path,
    *,
    workers: int = 2,
    threads: int = 4,
    app: str = "demo_shop.wsgi:application",
) -> Iterator[ShopServer]:
    """gunicorn (gthread: `workers` processes x `threads` threads) serving the demo shop (`app`)."""
    port = free_port()
    log_path = work_dir / f"gunicorn-{name}.log"
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--log-level",
        "warning",
        # A hanging endpoint must never be what kills a worker; the budget bounds every request.
        "--timeout",
        "60",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=dict(env),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = ShopServer(name, port, process, log_path)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        stop(process)


def _wait_until_serving(server: ShopServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn {server.name} exited:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + "/accounts/login/", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"gunicorn {server.name} did not answer in {START_TIMEOUT} s:\n{server.log()}"
    )


def stop(process: subprocess.Popen) -> None:
    """Terminate a process this bench started, killing it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def celery_workers(
    count: int, env: Mapping[str, str], work_dir: Path, *, name: str = "bench"
) -> Iterator[list[subprocess.Popen]]:
    """`count` separate `celery worker` processes of one pool process each, ready; stopped after.

    Separate processes, as on `count` machines: the broker in `env` is all they share.
    """
    processes, logs = [], []
    try:
        for number in range(count):
            log_path = work_dir / f"worker-{name}-{count}-{number}.log"
            with log_path.open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            PYTHON,
                            "-m",
                            "celery",
                            "-A",
                            "demo_shop",
                            "worker",
                            "--pool=prefork",
                            "--concurrency=1",
                            f"--hostname={name}{number}@%h",
                            "--loglevel=INFO",
                            "--without-gossip",
                            "--without-mingle",
                            "--without-heartbeat",
                        ],
                        env=dict(env),
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
            logs.append(log_path)
        deadline = time.monotonic() + START_TIMEOUT
        for log_path, process in zip(logs, processes, strict=True):
            while "ready." not in log_path.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a Celery worker did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield processes
    finally:
        for process in processes:
            stop(process)
