"""Benchmark of the retraining loop: export speed and memory, and a model swap under load.

1. Export: `manage.py recommendations_export` of seeded shops (30k and 1M order lines, made by
   `seed_demo --scale`, shared with bench/fallback.py under /tmp/fallback-bench) into a folder,
   each in its own process: time, peak memory (ru_maxrss), rows per second; then a second run,
   which must find nothing new.
2. Swap: on the 30k shop, train and release a model (`python -m model.release`), serve it with
   `python -m model.serve --model-dir <models>/current` (2 workers), and keep 4 boto3 clients
   asking back to back (one attempt each, no retries) while new orders arrive and the loop runs
   as `make retrain` runs it: export what is new, release, wait until the server serves it.

    .venv/bin/python bench/retrain.py [--scales 1 33] [--clients 4]

Ends with `TARGET` lines: no failed request during the swap, one version switch per client,
the 1M-line export under 60 s and 500 MB, and a second export that writes nothing.
"""

import argparse
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.model_server import running_model_server  # noqa: E402

SEEDED_DIR = Path(os.environ.get("FALLBACK_BENCH_DIR", "/tmp/fallback-bench"))
PYTHON = sys.executable
SIZE_NAMES = {1.0: "30k", 33.0: "1M"}
ACCESS_KEY_ID = "AKIABENCH00000000000"
SECRET_ACCESS_KEY = "bench-secret-not-for-aws-0123456789"  # noqa: S105 - local servers only


def environment(database: Path) -> dict[str, str]:
    """The demo's settings on this database; nothing inherited that points elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "DEBUG": "false",
            # With DEBUG off the demo refuses its published key and an empty ALLOWED_HOSTS.
            "SECRET_KEY": "bench-retrain-django-secret-key-not-for-production",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env


def seeded_copy(scale: float, work_dir: Path) -> Path:
    """A private, migrated copy of a seeded shop (seeded once and kept, as bench/fallback.py does)."""
    source = SEEDED_DIR / f"shop-scale{scale:g}.sqlite3"
    if not source.exists():
        SEEDED_DIR.mkdir(parents=True, exist_ok=True)
        partial = source.with_suffix(".partial")
        env = environment(partial)
        print(f"seeding {source} at --scale {scale:g} (once; kept for later runs) ...", flush=True)
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "seed_demo", "--scale", f"{scale:g}", "--verbosity", "0")
        partial.rename(source)
    copy = work_dir / f"shop-{scale:g}.sqlite3"
    shutil.copyfile(source, copy)
    manage(environment(copy), "migrate", "--verbosity", "0")  # tables newer than the seed
    return copy


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `command` in a process of its own: (seconds, peak MB of that process, stdout).

    A small runner process starts it and reads its ru_maxrss, so the figure is the command's own.
    """
    runner = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "sys.stderr.write(r.stderr); print(r.stdout, end='');"
        "print(f'@@ {time.perf_counter() - t:.3f} "
        "{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f}');"
        "sys.exit(r.returncode)"
    )
    result = subprocess.run(
        [PYTHON, "-c", runner, *command],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    output, _, figures = result.stdout.rpartition("@@ ")
    seconds, megabytes = (float(x) for x in figures.split())
    return seconds, megabytes, output


def export_command(folder: Path) -> list[str]:
    return [
        PYTHON,
        str(ROOT / "manage.py"),
        "recommendations_export",
        "--to",
        str(folder),
        "--settle-seconds",
        "0",
    ]


def bench_export(scale: float, work_dir: Path) -> dict:
    database = seeded_copy(scale, work_dir)
    env = environment(database)
    folder = work_dir / f"export-{scale:g}"
    seconds, megabytes, _ = measured(export_command(folder), env)
    rows = sum(
        sum(1 for _ in path.open()) for path in folder.iterdir() if path.name.endswith(".jsonl")
    )
    again, _, output = measured(export_command(folder), env)
    nothing_new = "Nothing new" in output
    size = SIZE_NAMES.get(scale, f"{scale:g}x")
    print(
        f"export {size}: {rows} rows in {seconds:.2f} s ({rows / seconds:,.0f} rows/s), "
        f"peak {megabytes:.0f} MB; second run {again:.2f} s, nothing new: {nothing_new}"
    )
    return {"size": size, "seconds": seconds, "megabytes": megabytes, "nothing_new": nothing_new}


def hammer(server, user_ids, answers, errors, stop) -> None:
    """One client, requests back to back; the version of every answer (three connections)."""
    clients = [server.client(read_timeout=10) for _ in range(3)]
    rng = random.Random(len(answers))
    turn = 0
    while not stop.is_set():
        body = json.dumps({"user_id": rng.choice(user_ids), "num_results": 10}).encode()
        try:
            response = clients[turn % 3].invoke_endpoint(
                EndpointName=server.endpoint_name, Body=body, ContentType="application/json"
            )
            answers.append(json.loads(response["Body"].read())["model_version"])
        except Exception as error:  # counted: a failed request is what this bench looks for
            errors.append(repr(error))
        turn += 1


def add_orders(env: dict[str, str], count: int) -> None:
    """New orders of existing customers, through the ORM (as checkouts would add them)."""
    script = (
        "import random; from demo_shop.orders.models import Order, OrderLine;"
        "from demo_shop.catalog.models import Product;"
        "from django.contrib.auth import get_user_model;"
        "rng = random.Random(1); users = list(get_user_model().objects.filter(orders__isnull=False)"
        ".distinct().values_list('pk', flat=True)[:500]);"
        "products = list(Product.objects.values_list('pk', 'price')[:200]);"
        f"orders = [Order.objects.create(user_id=rng.choice(users)) for _ in range({count})];"
        "OrderLine.objects.bulk_create(OrderLine(order=o, product_id=p, quantity=1, unit_price=c)"
        " for o in orders for p, c in [rng.choice(products)])"
    )
    manage(env, "shell", "-c", script)


def bench_swap(work_dir: Path, clients: int) -> dict:
    database = seeded_copy(1.0, work_dir)
    env = environment(database)
    training, models = work_dir / "training", work_dir / "models"
    release = [PYTHON, "-m", "model.release", "--train", str(training), "--models-dir", str(models)]
    manage(env, *export_command(training)[2:])
    subprocess.run([*release, "--no-evaluate"], env=env, cwd=ROOT, check=True, capture_output=True)
    old = os.readlink(models / "current")
    user_ids = sorted(
        {
            json.loads(line)["user_id"]
            for path in training.glob("interactions-*.jsonl")
            for line in path.open()
        }
    )
    with running_model_server(
        work_dir,
        model_dir=models / "current",
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        extra_args=("--workers", "2", "--threads", "4"),
    ) as server:
        answers = [[] for _ in range(clients)]
        errors: list[str] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=hammer, args=(server, user_ids, answers[n], errors, stop))
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        add_orders(env, 300)
        started = time.perf_counter()
        manage(env, *export_command(training)[2:])
        subprocess.run(
            [*release, "--no-evaluate", "--wait-for", f"{server.url}/ping"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        retrain_seconds = time.perf_counter() - started
        new = os.readlink(models / "current")
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    switches = [sum(1 for a, b in itertools.pairwise(sequence) if a != b) for sequence in answers]
    requests = sum(len(sequence) for sequence in answers)
    print(
        f"swap {old} -> {new}: {requests} requests from {clients} clients during the retrain, "
        f"{len(errors)} failed; switches per client {switches}; export + train + swap "
        f"{retrain_seconds:.2f} s"
    )
    if errors:
        print("  first failure:", errors[0])
    return {
        "errors": len(errors),
        "switches": switches,
        "changed": old != new,
        "ended_new": all(sequence and sequence[-1] == new for sequence in answers),
    }


def target(name: str, value: float, op: str, threshold: float) -> None:
    passed = {"<": value < threshold, "==": value == threshold}[op]
    print(f"TARGET {name} {value:g} {op} {threshold:g} {'PASS' if passed else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 33.0])
    parser.add_argument("--clients", type=int, default=4)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retrain-bench-") as name:
        work_dir = Path(name)
        exports = [bench_export(scale, work_dir) for scale in arguments.scales]
        swap = bench_swap(work_dir, arguments.clients)
    target("retrain_failed_requests", swap["errors"], "==", 0)
    target(
        "retrain_clients_switching_once",
        sum(1 for s in swap["switches"] if s == 1) if swap["changed"] and swap["ended_new"] else 0,
        "==",
        arguments.clients,
    )
    for result in exports:
        target(
            f"export_{result['size']}_second_run_nothing_new", int(result["nothing_new"]), "==", 1
        )
        if result["size"] == "1M":
            target("export_1M_seconds", round(result["seconds"], 2), "<", 60)
            target("export_1M_peak_mb", round(result["megabytes"]), "<", 500)
    return 0


if __name__ == "__main__":
    sys.exit(main())
