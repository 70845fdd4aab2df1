"""Benchmark of the local SageMaker-compatible endpoint through boto3, as the shop calls it.

Trains a model on demo-sized synthetic data (2,000 users, 500 items, about 30k interactions),
starts `python -m model.serve` on a free loopback port and measures, in one run:
single-request latency (p50/p99) and requests/s from one client, the same for batches of 50 users,
and requests/s from several concurrent clients. Every request goes through boto3's
`invoke_endpoint`: SigV4 signing, HTTP keep-alive, the server's signature check and the model.

    .venv/bin/python bench/endpoint.py [--requests 1000] [--batches 200] [--clients 4]
        [--model als|ease]

Ends with `TARGET endpoint_single_p50_ms <v> < 10 PASS|FAIL` (SageMaker's headline is "a few
milliseconds"; the local endpoint should answer a single user well under 10 ms at p50).
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.data.synthetic import taste_interactions  # noqa: E402
from model.training.ease import fit_ease  # noqa: E402
from tests.support.model_server import running_model_server  # noqa: E402

BATCH_SIZE = 50


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed_calls(client, endpoint_name: str, bodies: list[bytes]) -> tuple[list[float], float]:
    """Send each body once, in order; (latencies in ms, wall seconds)."""
    latencies = []
    started = time.perf_counter()
    for body in bodies:
        before = time.perf_counter()
        response = client.invoke_endpoint(
            EndpointName=endpoint_name, Body=body, ContentType="application/json"
        )
        response["Body"].read()
        latencies.append((time.perf_counter() - before) * 1000.0)
    return latencies, time.perf_counter() - started


def single_bodies(user_ids: list[str], count: int, rng: random.Random) -> list[bytes]:
    """Requests for one user each: nine in ten known to the model, one in ten new (the prior)."""
    bodies = []
    for n in range(count):
        user_id = rng.choice(user_ids) if n % 10 else f"new-customer-{n}"
        bodies.append(json.dumps({"user_id": user_id, "num_results": 10}).encode())
    return bodies


def batch_bodies(user_ids: list[str], count: int, rng: random.Random) -> list[bytes]:
    """Requests for BATCH_SIZE users each, as the prefetch task sends them."""
    return [
        json.dumps(
            {
                "instances": [
                    {"user_id": rng.choice(user_ids), "num_results": 10} for _ in range(BATCH_SIZE)
                ]
            }
        ).encode()
        for _ in range(count)
    ]


def report(name: str, latencies: list[float], seconds: float, users_per_request: int) -> None:
    rate = len(latencies) / seconds
    print(
        f"{name:<22} n={len(latencies):>5}  p50 {percentile(latencies, 0.5):6.2f} ms  "
        f"p99 {percentile(latencies, 0.99):6.2f} ms  mean {statistics.fmean(latencies):6.2f} ms  "
        f"{rate:7.0f} req/s  {rate * users_per_request:8.0f} users/s",
        flush=True,
    )


def concurrent(server, bodies: list[bytes], clients: int) -> tuple[list[float], float]:
    """The bodies split over `clients` threads, each with its own boto3 client."""
    per_client = [bodies[n::clients] for n in range(clients)]
    boto_clients = [server.client(max_pool_connections=2) for _ in range(clients)]
    results: list[list[float]] = [[] for _ in range(clients)]

    def run(index: int) -> None:
        results[index] = timed_calls(boto_clients[index], server.endpoint_name, per_client[index])[
            0
        ]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [v for r in results for v in r], time.perf_counter() - started


def main() -> int:
    """Run the benchmark and print the figures and the TARGET line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="single-user requests")
    parser.add_argument("--batches", type=int, default=200, help="requests of 50 users")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--model", choices=("als", "ease"), default="als", help="model to serve")
    arguments = parser.parse_args()

    data = taste_interactions(
        num_users=2000, num_items=500, num_categories=12, orders_per_user=(5, 12), seed=1
    )
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="endpoint-bench-") as work_dir:
        started = time.perf_counter()
        model_dir = None
        if arguments.model == "ease":
            model_dir = Path(work_dir) / "model"
            fit_ease(data).save(model_dir)
        with running_model_server(
            Path(work_dir), data, endpoint_name="bench", model_dir=model_dir
        ) as server:
            print(
                f"{arguments.model} model: {len(data)} interactions, 2000 users, 500 items; "
                "trained and server up "
                f"in {time.perf_counter() - started:.1f} s ({server.url})",
                flush=True,
            )
            user_ids = server.known_user_ids
            client = server.client()
            timed_calls(client, server.endpoint_name, single_bodies(user_ids, 100, rng))  # warm-up

            single, single_seconds = timed_calls(
                client, server.endpoint_name, single_bodies(user_ids, arguments.requests, rng)
            )
            report("single, 1 client", single, single_seconds, 1)
            batch, batch_seconds = timed_calls(
                client, server.endpoint_name, batch_bodies(user_ids, arguments.batches, rng)
            )
            report(f"batch of {BATCH_SIZE}, 1 client", batch, batch_seconds, BATCH_SIZE)
            parallel, parallel_seconds = concurrent(
                server, single_bodies(user_ids, arguments.requests, rng), arguments.clients
            )
            report(f"single, {arguments.clients} clients", parallel, parallel_seconds, 1)
            stats = server.stats()
            expected = 100 + 2 * arguments.requests + arguments.batches
            if stats["invocations"] != expected:
                print(f"server counted {stats['invocations']} invocations, expected {expected}")
                return 1

    p50 = percentile(single, 0.5)
    print(f"TARGET endpoint_single_p50_ms {p50:.2f} < 10 {'PASS' if p50 < 10 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
