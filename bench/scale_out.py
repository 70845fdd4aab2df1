"""Prefetch scale-out: users/s with 1, 2 and 4 Celery worker processes sharing one Redis broker.

    .venv/bin/python bench/scale_out.py [--customers 12000] [--latency-ms 20] [--workers 1 2 4]

Seeds a throwaway SQLite shop, starts a private redis-server (database 0 the cache, 1 the
broker) and the model endpoint (`python -m model.serve`, trained on the shop's orders) with
`--latency-ms` added to every invocation by its fault switch, as a SageMaker call costs. For each
count it starts that many separate `celery worker` processes (one pool process each, as on that
many machines: the broker is all they share), publishes one `prefetch_active_users` (the fan-out
that beat sends) and times until every active customer's entry is in the cache. Then it measures
the Redis memory of the prefetched entries (`MEMORY USAGE` of a sample of real entries).

Ends with `TARGET prefetch_users_per_s_4_over_1_workers <ratio> >= 3.0 PASS|FAIL`.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from harness.cpu import cpu_seconds
from harness.shop import (
    ROOT,
    celery_workers,
    endpoint_environment,
    private_redis,
    seed_shop,
    setup_django,
    shop_environment,
    training_interactions,
    with_recommendations,
    work_folder,
)

TARGET_RATIO = 3.0
ENTRY_PATTERN = "*recommendations:user:*"
RUN_TIMEOUT = 900.0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=12_000)
    parser.add_argument("--lines", type=int, default=40_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    return parser.parse_args()


def timed_round(redis_server, server, workers, expected_users: int, days: int) -> dict:
    """Publish one fan-out and wait until every active user has an entry.

    The wait polls DBSIZE every 20 ms (one O(1) command: the round's only work besides the
    workers') and confirms with a SCAN count once the database holds enough keys.
    """
    from recommendations.tasks import prefetch_active_users

    cache = redis_server.client(0)
    server.reset_stats()
    other_keys = cache.dbsize()  # the round starts with no entry (deleted before)
    worker_pids = [process.pid for process in workers]
    worker_cpu, endpoint_cpu = cpu_seconds(worker_pids), cpu_seconds([server.process.pid])
    started = time.perf_counter()
    prefetch_active_users.delay(days=days)
    deadline = time.monotonic() + RUN_TIMEOUT
    entries = 0
    while time.monotonic() < deadline:
        if cache.dbsize() - other_keys >= expected_users:
            elapsed = time.perf_counter() - started
            entries = sum(1 for _ in cache.scan_iter(match=ENTRY_PATTERN, count=5000))
            if entries >= expected_users:
                break
        time.sleep(0.02)
    else:
        elapsed = time.perf_counter() - started
    invocations = server.invocations()
    return {
        "users": entries,
        "seconds": elapsed,
        "users_per_s": entries / elapsed,
        "invocations": invocations,
        # CPU per invocation (a batch): the Celery workers' (the fan-out included) and the endpoint's.
        "worker_cpu_ms": (cpu_seconds(worker_pids) - worker_cpu) * 1000 / max(invocations, 1),
        "endpoint_cpu_ms": (cpu_seconds([server.process.pid]) - endpoint_cpu)
        * 1000
        / max(invocations, 1),
    }


def entry_memory(redis_server, sample: int = 500) -> dict:
    """Bytes of real prefetched entries: MEMORY USAGE per key (key, value and Redis overhead)."""
    client = redis_server.client(0)
    keys = []
    for key in client.scan_iter(match=ENTRY_PATTERN, count=1000):
        keys.append(key)
        if len(keys) >= sample:
            break
    sizes = [client.memory_usage(key, samples=0) or 0 for key in keys]
    value = client.get(keys[0]) if keys else b""
    return {
        "sampled": len(keys),
        "mean_bytes": sum(sizes) / max(len(sizes), 1),
        "max_bytes": max(sizes, default=0),
        "value_bytes": len(value or b""),
    }


def main() -> int:
    arguments = parse_arguments()
    results: dict[int, dict] = {}
    with (
        work_folder("bench-scale-out-", keep=arguments.keep) as work,
        private_redis(work) as redis_server,
    ):
        env = {
            **shop_environment(f"sqlite:///{work / 'shop.sqlite3'}", redis_server.url(0)),
            "CELERY_BROKER_URL": redis_server.url(1),
        }
        print(f"seeding {arguments.customers} customers, {arguments.lines} order lines ...")
        seed_shop(env, products=500, customers=arguments.customers, lines=arguments.lines, seed=5)
        setup_django(env)
        from django.conf import settings

        from demo_shop.orders.models import Order
        from recommendations.prefetch import fan_out

        days = 3650  # every customer who ever ordered: the seed spreads orders over months
        active = len(fan_out.read_page(fan_out.active_since(days), 0, 10**9).user_ids)
        sys.path.insert(0, str(ROOT))
        from tests.support.model_server import running_model_server

        print(f"{active} active customers ({Order.objects.count()} orders); training ...")
        with running_model_server(
            work / "endpoint",
            training_interactions(),
            endpoint_name="bench-recommender",
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region=env["AWS_DEFAULT_REGION"],
            # Enough threads and processes that the endpoint is not what the workers wait on.
            extra_args=("--threads", "32", "--workers", "2"),
        ) as server:
            server.set_fault("none", arguments.latency_ms)
            worker_env = with_recommendations(
                {**env, **endpoint_environment(server)},
                BATCH_SIZE=arguments.batch_size,
            )
            settings.RECOMMENDATIONS = {
                **settings.RECOMMENDATIONS,
                **json.loads(worker_env["BENCH_RECOMMENDATIONS"]),
            }
            for count in arguments.workers:
                redis_server.delete_matching(0, ENTRY_PATTERN)
                redis_server.client(1).flushdb()
                with celery_workers(count, worker_env, work) as workers:
                    results[count] = row = timed_round(redis_server, server, workers, active, days)
                print(
                    f"{count} worker(s): {row['users']} users in {row['seconds']:.1f} s, "
                    f"{row['invocations']} invocations: {row['users_per_s']:.0f} users/s "
                    f"({row['users_per_s'] / count:.0f} per worker); CPU per invocation: "
                    f"workers {row['worker_cpu_ms']:.1f} ms, endpoint {row['endpoint_cpu_ms']:.1f} ms",
                    flush=True,
                )
            memory = entry_memory(redis_server)
    print(
        f"Redis memory per prefetched user: {memory['mean_bytes']:.0f} bytes mean, "
        f"{memory['max_bytes']} max (MEMORY USAGE of {memory['sampled']} entries; "
        f"value {memory['value_bytes']} bytes)"
    )
    print(
        f"endpoint latency injected: {arguments.latency_ms} ms per invocation, "
        f"{arguments.batch_size} users per invocation, {os.cpu_count()} CPUs"
    )
    first, last = min(results), max(results)
    ratio = results[last]["users_per_s"] / results[first]["users_per_s"]
    if (first, last) != (1, 4):
        print(f"ratio {last}/{first} workers: {ratio:.2f} (the target is for 4 over 1)")
        return 0
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"TARGET prefetch_users_per_s_4_over_1_workers {ratio:.2f} >= {TARGET_RATIO:g} {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
