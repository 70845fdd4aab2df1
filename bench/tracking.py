"""Home page throughput with impression and click tracking on vs off, through gunicorn on loopback.

    .venv/bin/python bench/tracking.py [--rounds 5] [--requests 250] [--concurrency 8]

Seeds a throwaway SQLite shop (300 products, 500 customers, 10k order lines), starts a private
redis-server and a model endpoint (`python -m model.serve`, trained on the shop's orders), then one
gunicorn (2 workers x 4 threads) per scenario, every customer prefetched, no holdout:

    off    RECOMMENDATIONS_TRACKING=false: the widget with plain product links
    on     RECOMMENDATIONS_TRACKING=true: one impression per page (buffered, handed to Redis in
           batches) and a signed click link per item

Rounds alternate (off, on, off, ...), requests/s is the median over rounds. After the servers have
stopped (a graceful stop hands off what the workers still hold), `flush_events` moves the events
into the database and the bench checks that every page served with the widget left one impression.
Ends with `TARGET tracking_on_vs_off <ratio> >= 0.95 PASS|FAIL`.
"""

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from harness.load import Summary, format_counter, run_load
from harness.shop import (
    endpoint_environment,
    login_customers,
    manage,
    model_endpoint,
    private_redis,
    seed_shop,
    serving_shop,
    setup_django,
    shop_environment,
    training_interactions,
)

TARGET_RATIO = 0.95
SCENARIOS = ("off", "on")
LABELS = {"off": "widget, tracking off", "on": "widget, tracking on"}
FLUSH = (
    "from recommendations import events; r = events.flush_to_database(); "
    "print(r.impressions, r.clicks, r.lost_batches, events.dropped_total())"
)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=250, help="per scenario and round")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per round")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, db)")
    return parser.parse_args()


def main() -> int:
    options = parse_arguments()
    work_dir = Path(tempfile.mkdtemp(prefix="tracking-bench-"))
    try:
        return run(options, work_dir)
    finally:
        if options.keep:
            print(f"work folder kept: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


def run(options: argparse.Namespace, work_dir: Path) -> int:
    with ExitStack() as stack:
        redis_server = stack.enter_context(private_redis(work_dir))
        env = shop_environment(f"sqlite:///{work_dir / 'shop.sqlite3'}", redis_server.url(0))
        started = time.monotonic()
        seed_shop(
            env,
            products=options.products,
            customers=options.customers,
            lines=options.lines,
            seed=options.seed,
        )
        setup_django(env)
        customers = login_customers()
        cookies = [cookie for _, cookie in customers]
        interactions = training_interactions()
        print(
            f"shop: {options.products} products, {len(customers)} customers logged in, "
            f"{len(interactions)} order lines; seeded in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        endpoint = stack.enter_context(model_endpoint(work_dir / "endpoint", interactions))
        envs = {
            name: {
                **env,
                **endpoint_environment(endpoint),
                "REDIS_URL": redis_server.url(db),
                "RECOMMENDATIONS_TRACKING": "true" if name == "on" else "false",
                "RECOMMENDATIONS_HOLDOUT_SHARE": "0",
            }
            for db, name in enumerate(SCENARIOS, start=1)
        }
        for name in SCENARIOS:
            manage(envs[name], "recommendations_prefetch", "--all", "--verbosity", "0")

        served_with_widget = 0
        with ExitStack() as servers_stack:
            servers = {
                name: servers_stack.enter_context(
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
            # Warm-up, not measured: every customer once on each server.
            warm_up = {
                name: run_load(
                    servers[name].port,
                    "/",
                    cookies,
                    requests=len(cookies),
                    concurrency=options.concurrency,
                    max_seconds=options.max_seconds * 2,
                )
                for name in SCENARIOS
            }
            rounds: dict[str, list] = {name: [] for name in SCENARIOS}
            for _ in range(options.rounds):
                for name in SCENARIOS:
                    rounds[name].append(
                        run_load(
                            servers[name].port,
                            "/",
                            cookies,
                            requests=options.requests,
                            concurrency=options.concurrency,
                            max_seconds=options.max_seconds,
                        )
                    )
            on_samples = [warm_up["on"], *rounds["on"]]
            served_with_widget = sum(
                n for s in on_samples for source, n in s.sources.items() if source != "none"
            )
        # The servers have stopped: their workers handed off what they held on the way out.
        flushed = manage(envs["on"], "shell", "--no-imports", "-c", FLUSH).split()
    summaries = {name: Summary(name, rounds[name]) for name in SCENARIOS}
    return report(summaries, served_with_widget, [int(n) for n in flushed])


def report(summaries: dict[str, Summary], served_with_widget: int, flushed: list[int]) -> int:
    print()
    print(
        f"{'scenario':<24} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'reqs':>5} {'fail':>4}  per-round req/s; widget source"
    )
    for name, summary in summaries.items():
        per_round = " ".join(f"{s.requests_per_second:.0f}" for s in summary.rounds)
        print(
            f"{LABELS[name]:<24} {summary.requests_per_second:7.1f} {summary.latency(50):7.1f} "
            f"{summary.latency(99):7.1f} {summary.max_ms:7.1f} {summary.requests:5d} "
            f"{summary.failures:4d}  [{per_round}]; {format_counter(summary.sources)}"
        )
    impressions, clicks, lost_batches, dropped = flushed
    print()
    print(
        f"tracking on: {served_with_widget} pages served with the widget, {impressions} "
        f"impressions flushed to the database ({clicks} clicks), {dropped} events dropped, "
        f"{lost_batches} batches lost"
    )
    for name, summary in summaries.items():
        if summary.failures:
            print(f"{name}: statuses {format_counter(summary.statuses)}")
    ratio = summaries["on"].requests_per_second / summaries["off"].requests_per_second
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"TARGET tracking_on_vs_off {ratio:.3f} >= {TARGET_RATIO:.2f} {verdict}")
    complete = impressions == served_with_widget and not dropped and not lost_batches
    print(
        f"TARGET tracking_events_lost {served_with_widget - impressions} <= 0 "
        f"{'PASS' if complete else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
