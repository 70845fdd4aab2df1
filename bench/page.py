"""Home page throughput with and without the widget, through gunicorn on loopback, in one run.

    .venv/bin/python bench/page.py [--rounds 12] [--requests 300] [--concurrency 8]

Seeds a throwaway SQLite shop (300 products, 500 customers, 10k order lines), starts a private
redis-server, a model endpoint (`python -m model.serve`, trained on the shop's orders) and a
hanging one, and one gunicorn (2 workers x 4 threads, Redis cache shared by the workers) per
scenario. Every request is a logged-in customer's home page:

    plain      DEMO_RECOMMENDATIONS_WIDGET=false: the page without the widget
    hit        the widget, every customer prefetched (`recommendations_prefetch --all`)
    hit-quiet  the same with RECOMMENDATIONS_TRACKING=false: no impression event, no signed
               click links (what tracking costs a page)
    hit-read   the hit page with RECOMMENDATIONS_NEAR_CACHE_SECONDS=0: the cache is read on every
               page instead of the process keeping the entries it read (what cache/near.py saves)
    miss       the widget, every request a customer with no cache entry (entries deleted
               before each round), answered inline by the endpoint
    hang       the widget on cache misses, the endpoint hanging (default breaker: it opens
               after 5 timeouts, then lets one probe through every 30 s)

Rounds of the scenarios are short and interleaved (plain, hit, ..., hang, plain, ...), so that
load from elsewhere on the machine hits neighbouring rounds alike; requests/s is the median over
rounds, and a ratio to the plain page is the median of the per-round ratios (each round against
the plain round next to it in time). The CPU the servers used per request (gunicorn workers,
Redis, model endpoints, from /proc) is printed too: it hardly moves with the machine's other load,
so its ratio is the steadier estimate of capacity. Ends with
`TARGET widget_cache_hit_vs_plain <median per-round requests/s ratio> >= 0.90 PASS|FAIL`.
"""

import argparse
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from harness.load import Summary, format_counter, run_load
from harness.shop import (
    add_shop_arguments,
    endpoint_environment,
    login_customers,
    manage,
    model_endpoint,
    private_redis,
    seed_shop_as_asked,
    serving_shop,
    setup_django,
    shop_environment,
    training_interactions,
    work_folder,
)

TARGET_RATIO = 0.90
SCENARIOS = ("plain", "hit", "hit-quiet", "hit-read", "miss", "hang")
LABELS = {
    "plain": "plain page (no widget)",
    "hit": "widget, cache hit",
    "hit-quiet": "widget, cache hit, no tracking",
    "hit-read": "widget, cache hit, no near cache",
    "miss": "widget, cache miss -> endpoint",
    "hang": "widget, miss, endpoint hanging",
}
USER_ENTRIES = "*recommendations:user:*"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shop_arguments(parser)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=300, help="per scenario and round")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per round")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, db)")
    return parser.parse_args()


def main() -> int:
    options = parse_arguments()
    with work_folder("page-bench-", keep=options.keep) as work_dir:
        return run(options, work_dir)


def run(options: argparse.Namespace, work_dir: Path) -> int:
    with ExitStack() as stack:
        redis_server = stack.enter_context(private_redis(work_dir))
        env = shop_environment(f"sqlite:///{work_dir / 'shop.sqlite3'}", redis_server.url(0))
        started = time.monotonic()
        seed_shop_as_asked(env, options)
        setup_django(env)
        customers = login_customers()
        cookies = [cookie for _, cookie in customers]
        interactions = training_interactions()
        print(
            f"shop: {options.products} products, {len(customers)} customers logged in, "
            f"{len(interactions)} order lines; seeded in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        healthy = stack.enter_context(model_endpoint(work_dir / "endpoint", interactions))
        hanging = stack.enter_context(
            model_endpoint(work_dir / "endpoint-hang", interactions, fault="hang")
        )

        databases = {name: number for number, name in enumerate(SCENARIOS, start=1)}
        envs = {
            name: {**env, "REDIS_URL": redis_server.url(db), **endpoint_environment(healthy)}
            for name, db in databases.items()
        }
        envs["plain"]["DEMO_RECOMMENDATIONS_WIDGET"] = "false"
        envs["hit-quiet"]["RECOMMENDATIONS_TRACKING"] = "false"
        envs["hit-read"]["RECOMMENDATIONS_NEAR_CACHE_SECONDS"] = "0"
        envs["hang"].update(endpoint_environment(hanging))

        for name in ("hit", "hit-quiet", "hit-read"):
            print(
                manage(envs[name], "recommendations_prefetch", "--all", "--verbosity", "0").strip()
            )
        servers = {
            name: stack.enter_context(
                serving_shop(
                    name, envs[name], work_dir, workers=options.workers, threads=options.threads
                )
            )
            for name in SCENARIOS
        }
        print(
            f"gunicorn: {options.workers} workers x {options.threads} threads per scenario; "
            f"client: {options.concurrency} threads, {options.requests} requests per round, "
            f"{options.rounds} rounds",
            flush=True,
        )

        # Warm-up: every customer once on every server (templates, the boto3 client, per-user
        # fallback lists, the hanging scenario's breaker opening), not measured.
        for name in SCENARIOS:
            run_load(
                servers[name].port,
                "/",
                cookies,
                requests=len(cookies),
                concurrency=options.concurrency,
                max_seconds=options.max_seconds * 2,
            )

        # Charged to each round: the scenario's gunicorn, Redis and the model endpoints.
        shared_pids = [redis_server.process.pid, healthy.process.pid, hanging.process.pid]
        miss_requests = min(options.requests, len(cookies))
        rounds: dict[str, list] = {name: [] for name in SCENARIOS}
        for round_number in range(options.rounds):
            for name in SCENARIOS:
                if name == "miss":
                    # Distinct customers, none with an entry: every request a true miss.
                    redis_server.delete_matching(databases["miss"], USER_ENTRIES)
                offset = round_number * miss_requests
                round_cookies = (cookies[offset:] + cookies[:offset])[: len(cookies)]
                rounds[name].append(
                    run_load(
                        servers[name].port,
                        "/",
                        round_cookies,
                        requests=miss_requests if name == "miss" else options.requests,
                        concurrency=options.concurrency,
                        max_seconds=options.max_seconds,
                        cpu_pids=[servers[name].process.pid, *shared_pids],
                    )
                )
        summaries = {name: Summary(name, rounds[name]) for name in SCENARIOS}
    return report(summaries)


def paired_ratio(summary: Summary, plain: Summary) -> float:
    """Median over rounds of this scenario's requests/s over the plain page's in the same round."""
    return statistics.median(
        ours.requests_per_second / theirs.requests_per_second
        for ours, theirs in zip(summary.rounds, plain.rounds, strict=True)
    )


def report(summaries: dict[str, Summary]) -> int:
    print()
    print(
        f"{'scenario':<32} {'req/s':>7} {'cpu ms':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'reqs':>5} {'fail':>4}  widget source"
    )
    for name, summary in summaries.items():
        print(
            f"{LABELS[name]:<32} {summary.requests_per_second:7.1f} "
            f"{summary.cpu_ms_per_request:6.2f} {summary.latency(50):7.1f} "
            f"{summary.latency(99):7.1f} {summary.max_ms:7.1f} {summary.requests:5d} "
            f"{summary.failures:4d}  {format_counter(summary.sources)}"
        )
    print("(cpu ms: server CPU per request; latencies end to end at the client)")
    plain = summaries["plain"]
    print()
    for name in ("hit", "hit-quiet", "hit-read", "miss", "hang"):
        summary = summaries[name]
        rounds = zip(summary.rounds, plain.rounds, strict=True)
        per_round = " ".join(
            f"{ours.requests_per_second / theirs.requests_per_second:.2f}"
            for ours, theirs in rounds
        )
        print(
            f"{name}/plain: requests/s x{paired_ratio(summary, plain):.3f} (per round {per_round}); "
            f"capacity by CPU x{plain.cpu_ms_per_request / summary.cpu_ms_per_request:.3f}"
        )
    tracked = summaries["hit"].cpu_ms_per_request - plain.cpu_ms_per_request
    quiet = summaries["hit-quiet"].cpu_ms_per_request - plain.cpu_ms_per_request
    print(
        f"widget cost on a cache hit: {tracked:.2f} ms CPU per page ({quiet:.2f} without tracking)"
    )
    read = summaries["hit-read"]
    print(
        f"near cache: {read.cpu_ms_per_request - summaries['hit'].cpu_ms_per_request:.2f} ms CPU "
        f"per hit page saved; hit/hit-read requests/s x{paired_ratio(summaries['hit'], read):.3f}"
    )
    for name, summary in summaries.items():
        if summary.failures:
            print(f"{name}: statuses {format_counter(summary.statuses)}")
    ratio = paired_ratio(summaries["hit"], plain)
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"TARGET widget_cache_hit_vs_plain {ratio:.3f} >= {TARGET_RATIO:.2f} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
