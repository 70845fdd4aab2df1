"""Home page latency and throughput while the cloud side misbehaves, through gunicorn on loopback.

    .venv/bin/python bench/outage.py [--rounds 5] [--requests 200] [--concurrency 4]

Seeds a throwaway SQLite shop (300 products, 500 customers, 10k order lines), starts a private
redis-server, model endpoints (`python -m model.serve` trained on the shop's orders: one healthy,
one hanging, one answering HTTP 500) and one gunicorn (2 workers x 4 threads) per scenario. Every
request is a logged-in customer's home page with the widget, for a customer with no prefetched
entry (entries are deleted before each round), so every page view reaches the endpoint path:

    fallback-only  the reference: every customer in the holdout (HOLDOUT_SHARE = 1), so each
                   view is the local fallback ranking with no endpoint, breaker or prefetched
                   entry involved: the shop's own page, healthy, without the model
    healthy        the endpoint answers; each view calls it inline and stores the answer
    hang, closed   the endpoint hangs; the breaker is held closed (thresholds out of reach), so
                   every view waits for its read timeout within BUDGET_MS
    hang, open     the endpoint hangs; default breaker, opened during the warm-up (it lets one
                   probe through every BREAKER_COOLDOWN = 30 s, which the figures include)
    http 500       the endpoint answers 500; breaker held closed so that every view really meets
                   the error (with the default breaker this is the "open" row above)
    redis down     REDIS_URL (cache and Celery broker) points at a closed port; endpoint healthy
    heavy buyer    endpoint healthy, default breaker; one customer bought 1,200 more products than
                   the others (more than the model takes as `exclude`) and views the home page 10
                   times before each round of the other customers (harness/heavy_buyer.py); the
                   table's row is the other customers' views

Rounds of the scenarios are interleaved, so load from elsewhere on the machine hits them alike.
The client keeps 4 requests in flight, half the server's 8 threads, so that the latencies are the
page's own rather than a queue's (bench/page.py measures saturated throughput).
Ends with TARGET lines: breaker-open p99 within 1.2x of the fallback-only p99; with the breaker
closed and the endpoint hanging, no request past BUDGET_MS + 50 ms; no 5xx in any scenario; the
heavy buyer never opens the breaker, and the other customers get the model's items (at least
HEALTHY_MODEL_SHARE of their widgets from the model, padded or not).
"""

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from harness.heavy_buyer import (
    HEAVY_VIEWS,
    breaker_openings,
    copy_with_heavy_buyer,
    report_heavy_buyer,
)
from harness.load import Summary, format_counter, percentile, run_load
from harness.log_fields import read_lines
from harness.shop import (
    add_shop_arguments,
    endpoint_environment,
    free_port,
    login_customers,
    model_endpoint,
    private_redis,
    seed_shop_as_asked,
    serving_shop,
    setup_django,
    shop_environment,
    training_interactions,
    with_recommendations,
    work_folder,
)

BUDGET_MS = 150
MARGIN_MS = 50
P99_RATIO = 1.2
# Thresholds a bench run cannot reach: the breaker stays closed whatever happens.
HELD_CLOSED = {"BREAKER_FAILURES": 10**9, "BREAKER_MIN_CALLS": 10**9}
SCENARIOS = (
    "fallback-only",
    "healthy",
    "hang-closed",
    "hang-open",
    "http500",
    "redis-down",
    "heavy-buyer",
)
LABELS = {
    "fallback-only": "fallback-only (reference)",
    "healthy": "healthy endpoint",
    "hang-closed": "hanging, breaker closed",
    "hang-open": "hanging, breaker open",
    "http500": "HTTP 500, breaker closed",
    "redis-down": "Redis down, endpoint healthy",
    "heavy-buyer": "heavy buyer among healthy users",
}
USER_ENTRIES = "*recommendations:user:*"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shop_arguments(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="per scenario and round")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="client threads (half the server's threads)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per round")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, db)")
    return parser.parse_args()


def main() -> int:
    options = parse_arguments()
    with work_folder("outage-bench-", keep=options.keep) as work_dir:
        return run(options, work_dir)


def run(options: argparse.Namespace, work_dir: Path) -> int:
    with ExitStack() as stack:
        redis_server = stack.enter_context(private_redis(work_dir))
        env = shop_environment(f"sqlite:///{work_dir / 'shop.sqlite3'}", redis_server.url(0))
        env["RECOMMENDATIONS_BUDGET_MS"] = str(BUDGET_MS)
        started = time.monotonic()
        seed_shop_as_asked(env, options)
        setup_django(env)
        sessions = login_customers()
        cookies = [cookie for _, cookie in sessions]
        # The first customer becomes the heavy buyer, in a copy of the shop of its own.
        heavy_user_id, heavy_cookie = sessions[0]
        heavy_db = copy_with_heavy_buyer(env, work_dir / "shop.sqlite3", user_id=heavy_user_id)
        interactions = training_interactions()
        print(
            f"shop: {options.products} products, {len(cookies)} customers logged in, "
            f"{len(interactions)} order lines; seeded in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        endpoints = {
            fault: stack.enter_context(
                model_endpoint(work_dir / f"endpoint-{fault}", interactions, fault=fault)
            )
            for fault in ("none", "hang", "http500")
        }

        databases = {name: number for number, name in enumerate(SCENARIOS, start=1)}
        envs = {
            name: {
                **env,
                "REDIS_URL": redis_server.url(databases[name]),
                **endpoint_environment(endpoints["none"]),
            }
            for name in SCENARIOS
        }
        envs["fallback-only"]["RECOMMENDATIONS_HOLDOUT_SHARE"] = "1"
        envs["hang-closed"].update(endpoint_environment(endpoints["hang"]))
        envs["hang-closed"] = with_recommendations(envs["hang-closed"], **HELD_CLOSED)
        envs["hang-open"].update(endpoint_environment(endpoints["hang"]))
        envs["http500"].update(endpoint_environment(endpoints["http500"]))
        envs["http500"] = with_recommendations(envs["http500"], **HELD_CLOSED)
        envs["heavy-buyer"]["DATABASE_URL"] = f"sqlite:///{heavy_db}"
        # Nothing listens there: every cache read and broker publish is refused.
        envs["redis-down"]["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
        app_logs = {name: str(work_dir / f"app-{name}.jsonl") for name in SCENARIOS}
        for name in SCENARIOS:
            envs[name]["BENCH_APP_LOG"] = app_logs[name]

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
            f"{options.rounds} rounds; BUDGET_MS={BUDGET_MS}",
            flush=True,
        )

        # Warm-up, not measured: every customer once per server (templates, the boto3 client,
        # per-user fallback lists, the hanging scenario's breaker opening).
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
        shared_pids = [redis_server.process.pid, *(e.process.pid for e in endpoints.values())]
        # The app's own log lines from here on are the measured rounds'.
        log_offsets = {name: _size(app_logs[name]) for name in SCENARIOS}
        requests = min(options.requests, len(cookies))
        rounds: dict[str, list] = {name: [] for name in SCENARIOS}
        heavy_rounds: list = []
        for round_number in range(options.rounds):
            offset = round_number * requests
            round_cookies = (cookies[offset:] + cookies[:offset])[:requests]
            for name in SCENARIOS:
                if name in ("healthy", "heavy-buyer"):
                    # Only the healthy endpoint stores answers; without them every view is a miss.
                    redis_server.delete_matching(databases[name], USER_ENTRIES)
                if name == "heavy-buyer":
                    heavy_rounds.append(
                        run_load(
                            servers[name].port,
                            "/",
                            [heavy_cookie],
                            requests=HEAVY_VIEWS,
                            concurrency=1,
                            max_seconds=options.max_seconds,
                        )
                    )
                rounds[name].append(
                    run_load(
                        servers[name].port,
                        "/",
                        [c for c in round_cookies if c != heavy_cookie]
                        if name == "heavy-buyer"
                        else round_cookies,
                        requests=requests,
                        concurrency=options.concurrency,
                        max_seconds=options.max_seconds,
                        cpu_pids=[servers[name].process.pid, *shared_pids],
                    )
                )
        summaries = {name: Summary(name, rounds[name]) for name in SCENARIOS}
        app_lines = {name: read_lines(app_logs[name], log_offsets[name]) for name in SCENARIOS}
        # Breaker openings count from the start, warm-up included.
        heavy_openings = breaker_openings(read_lines(app_logs["heavy-buyer"]))
        heavy_summary = Summary("heavy buyer's own views", heavy_rounds)
        # No fault reset at the end: the hanging endpoint's threads are all busy hanging, so it
        # could not answer one; stopping it drops the hanging requests.
    report(summaries, app_lines)
    return report_heavy_buyer(summaries["heavy-buyer"], heavy_summary, heavy_openings)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def endpoint_waits(lines: list[dict]) -> list[float]:
    """How long each failed endpoint call waited, as the app measured it (its WARNING's extra)."""
    return [
        float(line["duration_ms"])
        for line in lines
        if line["logger"] == "recommendations.service" and line.get("duration_ms") is not None
    ]


def report(summaries: dict[str, Summary], app_lines: dict[str, list[dict]]) -> int:
    print()
    print(
        f"{'scenario':<30} {'req/s':>7} {'cpu ms':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'reqs':>5} {'5xx':>4} {'waits':>5} {'wait max':>8}  widget source"
    )
    for name, summary in summaries.items():
        waits = endpoint_waits(app_lines[name])
        wait_max = f"{max(waits):8.1f}" if waits else f"{'-':>8}"
        print(
            f"{LABELS[name]:<30} {summary.requests_per_second:7.1f} "
            f"{summary.cpu_ms_per_request:6.2f} {summary.latency(50):7.1f} "
            f"{summary.latency(99):7.1f} {summary.max_ms:7.1f} {summary.requests:5d} "
            f"{summary.failures:4d} {len(waits):5d} {wait_max}  {format_counter(summary.sources)}"
        )
    print(
        "(cpu ms: server CPU per request; latencies are the client's, end to end; waits: failed "
        "endpoint calls in the app's log, wait max: the longest, as the app timed it)"
    )
    reference = summaries["fallback-only"]
    print()
    for name, summary in summaries.items():
        if name != "fallback-only":
            print(
                f"{name} vs fallback-only: p99 x{summary.latency(99) / reference.latency(99):.2f}, "
                f"req/s x{summary.requests_per_second / reference.requests_per_second:.2f}"
            )
    for name, summary in summaries.items():
        if summary.failures:
            print(f"{name}: statuses {format_counter(summary.statuses)}")

    ratio = summaries["hang-open"].latency(99) / reference.latency(99)
    print(
        f"TARGET breaker_open_p99_vs_fallback_only {ratio:.2f} <= {P99_RATIO} "
        f"{'PASS' if ratio <= P99_RATIO else 'FAIL'}"
    )
    worst = summaries["hang-closed"].max_ms
    limit = BUDGET_MS + MARGIN_MS
    print(
        f"TARGET breaker_closed_hang_max_ms {worst:.1f} <= {limit} "
        f"{'PASS' if worst <= limit else 'FAIL'}"
    )
    waits = endpoint_waits(app_lines["hang-closed"])
    wait_max = max(waits) if waits else float("nan")
    print(
        f"TARGET breaker_closed_hang_endpoint_wait_max_ms {wait_max:.1f} <= {limit} "
        f"{'PASS' if waits and wait_max <= limit else 'FAIL'}"
    )
    print(
        f"hanging, breaker closed: endpoint wait p50 {percentile(waits, 50):.1f} ms, "
        f"p99 {percentile(waits, 99):.1f} ms over {len(waits)} calls; the rest of each page's "
        "time is the page itself (compare the fallback-only row)"
    )
    failures = sum(summary.failures for summary in summaries.values())
    print(
        f"TARGET server_errors_all_scenarios {failures} == 0 {'PASS' if failures == 0 else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
