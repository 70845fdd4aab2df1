"""Home page throughput with impression and click tracking on vs off, through gunicorn on loopback.

    .venv/bin/python bench/tracking.py [--rounds 7] [--seconds 6] [--concurrency 8]

Seeds a throwaway SQLite shop (300 products, 500 customers, 10k order lines), starts a private
redis-server and a model endpoint (`python -m model.serve`, trained on the shop's orders), then one
gunicorn (2 workers x 4 threads) per scenario, every customer prefetched, no holdout:

    off    RECOMMENDATIONS_TRACKING=false: the widget with plain product links
    on     RECOMMENDATIONS_TRACKING=true: one impression per page (buffered, handed to the Redis
           broker in batches, one Celery message each) and signed click links

The machine is shared, and load from elsewhere swamps a difference of a few percent between rounds
run one after the other. So each round loads both servers at the same time for the same window
(half the client threads each): whatever else runs hits both alike, and the server that spends
more per page serves fewer pages. The target is the median over rounds of each round's on/off
throughput ratio. Each server's CPU time per page (master and workers, from /proc) is shown too:
it does not depend on what else runs.

After the servers have stopped (a graceful stop hands off what the workers still hold), the
queued batches are inserted into the database, as the `record_events` task would, and the bench
checks that every page served with the widget left one impression. Ends with `TARGET tracking_on_vs_off <ratio> >= 0.95 PASS|FAIL`.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from harness.load import Sample, Summary, format_counter, run_load
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

TARGET_RATIO = 0.95
SCENARIOS = ("off", "on")
LABELS = {"off": "widget, tracking off", "on": "widget, tracking on"}
# The worker's part, after the servers stopped: every `record_events` message the web processes
# sent to the (private Redis) broker, taken off the queue and inserted as the task would.
FLUSH = """
from celery import current_app
from recommendations.tracking import events
impressions = clicks = 0
with current_app.connection_for_read() as connection:
    route = current_app.amqp.router.route({}, events.RECORD_EVENTS_TASK)
    queue = connection.SimpleQueue(route["queue"].name)
    while True:
        try:
            message = queue.get(block=False)
        except queue.Empty:
            break
        if message.headers.get("task") == events.RECORD_EVENTS_TASK:
            inserted = events.insert_batch(list(message.payload[0][0]))
            impressions += inserted.impressions
            clicks += inserted.clicks
        message.ack()
    queue.close()
print(impressions, clicks, events.lost_batches_total(), events.dropped_total())
"""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shop_arguments(parser)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of a round")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads, split in two")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, db)")
    return parser.parse_args()


def main() -> int:
    options = parse_arguments()
    with work_folder("tracking-bench-", keep=options.keep) as work_dir:
        return run(options, work_dir)


def cpu_seconds(master_pid: int) -> float:
    """User + system CPU seconds of a gunicorn master and its live workers so far."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        parent, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
        if int(entry) == master_pid or parent == master_pid:
            total += (utime + stime) / CLOCK_TICKS
    return total


def load_together(
    ports: dict[str, int], cookies: list[str], concurrency: int, seconds: float
) -> dict[str, Sample]:
    """Load every server at once for the same window, `concurrency` client threads each."""
    samples: dict[str, Sample] = {}

    def load(name: str) -> None:
        samples[name] = run_load(
            ports[name],
            "/",
            cookies,
            requests=10**9,  # bounded by the window, not by a count
            concurrency=concurrency,
            max_seconds=seconds,
        )

    threads = [threading.Thread(target=load, args=(name,)) for name in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


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

        per_client = max(1, options.concurrency // 2)
        rounds: dict[str, list[Sample]] = {name: [] for name in SCENARIOS}
        cpu: dict[str, float] = dict.fromkeys(SCENARIOS, 0.0)
        with ExitStack() as servers_stack:
            servers = {
                name: servers_stack.enter_context(
                    serving_shop(
                        name, envs[name], work_dir, workers=options.workers, threads=options.threads
                    )
                )
                for name in SCENARIOS
            }
            ports = {name: server.port for name, server in servers.items()}
            print(
                f"gunicorn: {options.workers} workers x {options.threads} threads per scenario; "
                f"client: {per_client} threads per server, both at once; "
                f"{options.rounds} rounds of {options.seconds:.0f} s",
                flush=True,
            )
            # Warm-up, not measured: every customer once on each server.
            warm_up = {
                name: run_load(
                    port, "/", cookies, requests=len(cookies), concurrency=4, max_seconds=120
                )
                for name, port in ports.items()
            }
            for _ in range(options.rounds):
                before = {name: cpu_seconds(s.process.pid) for name, s in servers.items()}
                samples = load_together(ports, cookies, per_client, options.seconds)
                for name, server in servers.items():
                    cpu[name] += cpu_seconds(server.process.pid) - before[name]
                    rounds[name].append(samples[name])
            served_with_widget = sum(
                n
                for sample in [warm_up["on"], *rounds["on"]]
                for source, n in sample.sources.items()
                if source != "none"
            )
        # The servers have stopped: their workers handed off what they held on the way out.
        flushed = [int(n) for n in manage(envs["on"], "shell", "--no-imports", "-c", FLUSH).split()]
    summaries = {name: Summary(name, rounds[name]) for name in SCENARIOS}
    cpu_ms = {name: 1000 * cpu[name] / max(1, summaries[name].requests) for name in SCENARIOS}
    return report(summaries, cpu_ms, served_with_widget, flushed)


def report(
    summaries: dict[str, Summary],
    cpu_ms: dict[str, float],
    served_with_widget: int,
    flushed: list[int],
) -> int:
    print()
    print(
        f"{'scenario':<24} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/page':>11} "
        f"{'reqs':>5} {'fail':>4}  per-round req/s; widget source"
    )
    for name, summary in summaries.items():
        per_round = " ".join(f"{s.requests_per_second:.0f}" for s in summary.rounds)
        print(
            f"{LABELS[name]:<24} {summary.requests_per_second:7.1f} {summary.latency(50):7.1f} "
            f"{summary.latency(99):7.1f} {cpu_ms[name]:11.2f} {summary.requests:5d} "
            f"{summary.failures:4d}  [{per_round}]; {format_counter(summary.sources)}"
        )
    paired = sorted(
        on.requests_per_second / off.requests_per_second
        for on, off in zip(summaries["on"].rounds, summaries["off"].rounds, strict=True)
        if off.requests_per_second
    )
    print()
    print(f"on/off throughput per round (sorted): {' '.join(f'{r:.3f}' for r in paired)}")
    print(f"on/off CPU per page: {cpu_ms['on'] / cpu_ms['off']:.3f}")
    impressions, clicks, lost_batches, dropped = flushed
    print(
        f"tracking on: {served_with_widget} pages served with the widget, {impressions} "
        f"impressions flushed to the database ({clicks} clicks), {dropped} events dropped, "
        f"{lost_batches} batches lost"
    )
    for name, summary in summaries.items():
        if summary.failures:
            print(f"{name}: statuses {format_counter(summary.statuses)}")
    ratio = statistics.median(paired)
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"TARGET tracking_on_vs_off {ratio:.3f} >= {TARGET_RATIO:.2f} {verdict}")
    missing = served_with_widget - impressions
    complete = missing <= 0 and not dropped
    print(f"TARGET tracking_events_lost {missing} <= 0 {'PASS' if complete else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
