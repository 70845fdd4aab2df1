"""The admin report's time at 1M and 10M raw impressions over 14 days, from raw rows and rollups.

    .venv/bin/python bench/report.py [--sizes 1000000 10000000]

A throwaway PostgreSQL database (`report_bench`, dropped at the end) gets, for each size, that
many impressions spread evenly over the report's 14 days up to now (8 items each, 80% model arm
and 20% holdout, a fallback share with reasons) and a click on every 30th, by `COPY`. Then
`build_report()` is timed from the raw rows alone, the rollups are computed (`rollups.roll_up`,
what the hourly task does), and the report is timed again (best of 3): it reads the rollups and
the raw rows of today only.

Ends with `TARGET report_seconds_10M ...` and `TARGET report_time_ratio_10M_over_1M ...` lines.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from harness.pg_copy import BLOCK, throwaway_database
from harness.shop import manage, setup_django, shop_environment

DAYS = 14
ITEMS = json.dumps([{"item_id": str(n), "position": n, "source": "model"} for n in range(1, 9)])
# (arm, source, variant, fallback reason) by share of impressions.
GROUPS = [
    ("model", "model", "AllTraffic", "", 0.70),
    ("model", "fallback", "", "timeout", 0.06),
    ("model", "mixed", "AllTraffic", "too_few_items", 0.04),
    ("holdout", "fallback", "", "holdout", 0.20),
]


def copy_impressions(url: str, rows: int) -> float:
    """Empty the tracking tables, then COPY `rows` impressions and their clicks; seconds."""
    import psycopg

    started = time.monotonic()
    now = time.time()
    span = DAYS * 86_400 - 60
    bounds, total = [], 0.0
    for group in GROUPS:
        total += group[-1]
        bounds.append(total)
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE recommendations_impression, recommendations_click, "
            "recommendations_dailyrollup, recommendations_rolledupday"
        )
        statement = (
            "COPY recommendations_impression (request_id, pseudonym, arm, source, model_version, "
            "variant, fallback_reason, items, created_at) FROM STDIN"
        )
        with cursor.copy(statement) as copy:
            for start in range(0, rows, BLOCK):
                lines = []
                for n in range(start, min(rows, start + BLOCK)):
                    arm, source, variant, reason, _ = _group(n, bounds)
                    when = now - span + span * n / rows  # oldest first: ids grow with time
                    lines.append(
                        f"r{n:031d}\tp{n % 100_000}\t{arm}\t{source}\tv7\t{variant}\t{reason}\t"
                        f"{ITEMS}\t{_timestamp(when)}\n"
                    )
                copy.write("".join(lines).encode())
        statement = (
            "COPY recommendations_click (click_id, impression_request_id, item_id, position, "
            "pseudonym, arm, source, variant, created_at) FROM STDIN"
        )
        with cursor.copy(statement) as copy:
            for start in range(0, rows, BLOCK):
                lines = []
                for n in range(start + (-start % 30), min(rows, start + BLOCK), 30):
                    arm, source, variant, _, _ = _group(n, bounds)
                    when = now - span + span * n / rows + 30
                    lines.append(
                        f"c{n:031d}\tr{n:031d}\t2\t2\tp{n % 100_000}\t{arm}\t{source}\t"
                        f"{variant}\t{_timestamp(when)}\n"
                    )
                copy.write("".join(lines).encode())
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE recommendations_impression")
        connection.execute("VACUUM ANALYZE recommendations_click")
    return time.monotonic() - started


def _group(n: int, bounds: list[float]) -> tuple:
    share = (n * 0.6180339887) % 1.0  # spread evenly, not in runs
    for group, bound in zip(GROUPS, bounds, strict=True):
        if share < bound:
            return group
    return GROUPS[-1]


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(epoch))


def best_of(runs: int, call) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    arguments = parser.parse_args()
    results = {}
    with throwaway_database("report_bench") as url:
        env = shop_environment(url, "")
        manage(env, "migrate", "--verbosity", "0")
        setup_django(env)
        from django.db import connection

        from recommendations.reporting import rollups
        from recommendations.reporting.report import build_report

        for size in arguments.sizes:
            connection.close()
            seeded = copy_impressions(url, size)
            raw = best_of(1, lambda: build_report(days=DAYS))
            started = time.perf_counter()
            days = rollups.roll_up()
            rolled = time.perf_counter() - started
            report = build_report(days=DAYS)
            fast = best_of(3, lambda: build_report(days=DAYS))
            results[size] = fast
            print(
                f"{size:>11,} impressions (COPY {seeded:.0f} s): report from raw rows {raw:.2f} s; "
                f"rollups of {len(days)} days {rolled:.1f} s; report from rollups + today "
                f"{fast:.3f} s ({report.totals.impressions:,} impressions counted)",
                flush=True,
            )
    if 10_000_000 in results:
        _target("report_seconds_10M", results[10_000_000], 1.0)
    if 1_000_000 in results and 10_000_000 in results:
        _target("report_time_ratio_10M_over_1M", results[10_000_000] / results[1_000_000], 1.5)
    return 0


def _target(name: str, value: float, threshold: float) -> None:
    verdict = "PASS" if value <= threshold else "FAIL"
    print(f"TARGET {name} {value:.3g} <= {threshold:g} {verdict}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
