"""Prefetch throughput: users/s prefetched one per invocation and batched, in one run.

    .venv/bin/python bench/prefetch.py [--users 10000] [--batch-size 50]

Seeds a throwaway SQLite shop with `--users` customers, starts a private redis-server (the cache)
and a model endpoint (`python -m model.serve`, trained on the shop's orders), then runs the app's
own prefetch (`recommendations.prefetch.users.prefetch_users`, what the Celery tasks call) over every
customer twice: with one user per invoke_endpoint, then with `--batch-size` users per call. Each
pass writes the same cache entries the page reads. Ends with
`TARGET prefetch_batched_vs_single <ratio> >= 5 PASS|FAIL`.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.shop import (
    model_endpoint,
    private_redis,
    seed_shop,
    setup_django,
    shop_environment,
    training_interactions,
)

TARGET_RATIO = 5.0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lines", type=int, default=30_000)
    return parser.parse_args()


def timed_prefetch(user_ids: list[int], batch_size: int, server, redis_server) -> dict:
    from recommendations.prefetch.users import prefetch_users

    redis_server.delete_matching(0, "*recommendations:user:*")
    server.reset_stats()
    started = time.perf_counter()
    result = prefetch_users(user_ids, batch_size=batch_size)
    elapsed = time.perf_counter() - started
    return {
        "users": result.users,
        "invocations": server.invocations(),
        "seconds": elapsed,
        "users_per_s": result.users / elapsed,
    }


def main() -> int:
    arguments = parse_arguments()
    work = Path(tempfile.mkdtemp(prefix="bench-prefetch-"))
    try:
        with private_redis(work) as redis_server:
            env = shop_environment(f"sqlite:///{work / 'shop.sqlite3'}", redis_server.url(0))
            print(f"seeding {arguments.users} customers, {arguments.lines} order lines ...")
            seed_shop(env, products=500, customers=arguments.users, lines=arguments.lines, seed=5)
            setup_django(env)
            from django.contrib.auth import get_user_model
            from django.test import override_settings

            from recommendations.backends.base import get_backend

            user_ids = list(
                get_user_model()
                .objects.filter(username__startswith="customer")
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            with model_endpoint(work / "endpoint", training_interactions()) as server:
                from django.conf import settings

                endpoint = {
                    **settings.RECOMMENDATIONS,
                    "BACKEND": "sagemaker",
                    "ENDPOINT_NAME": server.endpoint_name,
                    "ENDPOINT_URL": server.url,
                    "REGION": server.region,
                }
                with override_settings(RECOMMENDATIONS=endpoint):
                    get_backend().warm_up("task")
                    timed_prefetch(user_ids[:100], arguments.batch_size, server, redis_server)
                    single = timed_prefetch(user_ids, 1, server, redis_server)
                    batched = timed_prefetch(user_ids, arguments.batch_size, server, redis_server)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'mode':<28}{'users':>8}{'invocations':>13}{'seconds':>10}{'users/s':>10}")
    for label, row in (
        ("one user per invocation", single),
        (
            f"{arguments.batch_size} users per invocation",
            batched,
        ),
    ):
        print(
            f"{label:<28}{row['users']:>8}{row['invocations']:>13}"
            f"{row['seconds']:>10.1f}{row['users_per_s']:>10.0f}"
        )
    ratio = batched["users_per_s"] / single["users_per_s"]
    print(f"batched / single: {ratio:.1f}x")
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"TARGET prefetch_batched_vs_single {ratio:.2f} >= {TARGET_RATIO:g} {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
