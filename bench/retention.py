"""Retention purge under load: page p99 while expired impressions and clicks are deleted.

    .venv/bin/python bench/retention.py [--rows 10000000] [--seconds 60] [--concurrency 4]

Makes a throwaway PostgreSQL database (`retention_bench`, dropped at the end) with the demo shop,
and writes `--rows` impressions older than TRACKING_RETENTION_DAYS (with 8 items each, as the
widget records them) and a click for every 30th, by `COPY`. gunicorn serves the home page with
the widget, tracking on, against the model endpoint (`model.serve`), and a Celery worker inserts
the pages' impressions as they arrive (the `record_events` messages), as in production. The export
and the rollups run first, so that the clicks and the counted days may go.
The page load runs once without the purge (baseline), then while `purge_expired` deletes the
expired rows (in a subprocess, as the Celery task would).

Ends with `TARGET retention_purge_page_p99_ratio <ratio> <= 1.2 PASS|FAIL`.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from harness.load import percentile, run_load
from harness.pg_copy import BLOCK, throwaway_database
from harness.shop import (
    PYTHON,
    ROOT,
    celery_workers,
    endpoint_environment,
    login_customers,
    model_endpoint,
    private_redis,
    seed_shop,
    serving_shop,
    setup_django,
    shop_environment,
    training_interactions,
    work_folder,
)

TARGET_RATIO = 1.2
AGE_DAYS = (100, 200)  # expired rows are this many days old (the retention is 90)
ITEMS = [{"item_id": str(n), "position": n, "source": "model"} for n in range(1, 9)]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="expired impressions")
    parser.add_argument("--seconds", type=float, default=60.0, help="baseline load duration")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-purge-seconds", type=float, default=600.0)
    return parser.parse_args()


def copy_expired_rows(url: str, rows: int) -> dict:
    """COPY `rows` expired impressions and a click for every 30th; counts and seconds."""
    import psycopg

    started = time.monotonic()
    now = time.time()
    items = json.dumps(ITEMS)
    clicks = 0
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        impression_copy = (
            "COPY recommendations_impression (request_id, pseudonym, arm, source, model_version, "
            "variant, fallback_reason, items, created_at) FROM STDIN"
        )
        with cursor.copy(impression_copy) as copy:
            for start in range(0, rows, BLOCK):
                stop = min(rows, start + BLOCK)
                copy.write(
                    "".join(
                        f"old{n:029d}\tp{n % 50_000}\tmodel\tmodel\tv1\t\t\t{items}\t"
                        f"{_timestamp(now, n, rows)}\n"
                        for n in range(start, stop)
                    ).encode()
                )
        click_copy = (
            "COPY recommendations_click (click_id, impression_request_id, item_id, position, "
            "pseudonym, arm, source, variant, created_at) FROM STDIN"
        )
        with cursor.copy(click_copy) as copy:
            for start in range(0, rows, BLOCK):
                stop = min(rows, start + BLOCK)
                picked = range(start + (-start % 30), stop, 30)
                clicks += len(picked)
                copy.write(
                    "".join(
                        f"c{n:031d}\told{n:029d}\t3\t3\tp{n % 50_000}\tmodel\tmodel\t\t"
                        f"{_timestamp(now, n, rows)}\n"
                        for n in picked
                    ).encode()
                )
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE recommendations_impression")
        connection.execute("VACUUM ANALYZE recommendations_click")
        size = connection.execute(
            "SELECT pg_total_relation_size('recommendations_impression')"
            " + pg_total_relation_size('recommendations_click')"
        ).fetchone()[0]
    return {
        "impressions": rows,
        "clicks": clicks,
        "seconds": time.monotonic() - started,
        "bytes": size,
    }


def _timestamp(now: float, n: int, rows: int) -> str:
    # Oldest first, as rows arrive: ids grow with time.
    oldest, newest = AGE_DAYS[1] * 86_400, AGE_DAYS[0] * 86_400
    seconds_ago = oldest - (oldest - newest) * n / max(rows - 1, 1)
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(now - seconds_ago))


def timed_load(port: int, cookies: list[str], seconds: float, concurrency: int) -> dict:
    sample = run_load(
        port, "/", cookies, requests=10**9, concurrency=concurrency, max_seconds=seconds
    )
    ok = sum(count for status, count in sample.statuses.items() if status == 200)
    return {
        "requests": sample.requests,
        "ok": ok,
        "p50_ms": percentile(sample.latencies_ms, 50),
        "p99_ms": percentile(sample.latencies_ms, 99),
        "rps": sample.requests / sample.wall_seconds,
    }


def main() -> int:
    arguments = parse_arguments()
    with (
        work_folder("bench-retention-") as work,
        private_redis(work) as redis_server,
        throwaway_database("retention_bench") as url,
    ):
        env = {
            **shop_environment(url, redis_server.url(0)),
            "RECOMMENDATIONS_EXPORT_TO": str(work / "training"),
        }
        print("seeding the shop ...", flush=True)
        seed_shop(env, products=300, customers=500, lines=10_000, seed=7)
        print(f"COPY of {arguments.rows:,} expired impressions ...", flush=True)
        seeded = copy_expired_rows(url, arguments.rows)
        print(
            f"  {seeded['impressions']:,} impressions and {seeded['clicks']:,} clicks in "
            f"{seeded['seconds']:.0f} s, {seeded['bytes'] / 2**30:.2f} GiB with indexes",
            flush=True,
        )
        # The export takes the clicks first: the purge deletes no click it has not exported.
        manage = [PYTHON, str(ROOT / "manage.py"), "shell", "-c"]
        export = (
            "from recommendations.export.run import export_new; from django.conf import settings; "
        )
        export += "export_new(settings.RECOMMENDATIONS['EXPORT_DESTINATION'], settle_seconds=0)"
        subprocess.run([*manage, export], env=env, cwd=ROOT, check=True, capture_output=True)
        # The rollups count the expired days, as beat's hourly runs would have long before: the
        # purge deletes no row they have not counted.
        roll_up = "from recommendations.reporting.rollups import roll_up; roll_up()"
        subprocess.run([*manage, roll_up], env=env, cwd=ROOT, check=True, capture_output=True)
        setup_django(env)
        from django.utils import timezone

        from recommendations.models import Impression

        cookies = [cookie for _, cookie in login_customers()]
        with model_endpoint(work / "endpoint", training_interactions()) as server:
            served_env = {**env, **endpoint_environment(server)}
            with (
                serving_shop("retention", served_env, work) as shop,
                celery_workers(1, served_env, work, name="events"),
            ):
                load_started = timezone.now()
                # Warm-up: every customer once (templates, clients, prefetched entries).
                timed_load(shop.port, cookies, 30.0, arguments.concurrency)
                baseline = timed_load(shop.port, cookies, arguments.seconds, arguments.concurrency)
                print(_line("without the purge", baseline), flush=True)
                purge = subprocess.Popen(
                    [
                        *manage,
                        "from recommendations.export.retention import purge_expired; "
                        "import time; t = time.monotonic(); r = purge_expired(); "
                        "print(r.impressions, r.clicks, r.batches, time.monotonic() - t)",
                    ],
                    env=served_env,
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                windows = []
                started = time.monotonic()
                # Pages are measured in windows for as long as the purge runs.
                while (
                    purge.poll() is None
                    and time.monotonic() - started < arguments.max_purge_seconds
                ):
                    windows.append(
                        run_load(
                            shop.port,
                            "/",
                            cookies,
                            requests=10**9,
                            concurrency=arguments.concurrency,
                            max_seconds=10.0,
                        )
                    )
                purge_out = purge.communicate(timeout=3600)[0].split()
                time.sleep(5)  # the pages' last batches reach the worker
                recorded = Impression.objects.filter(created_at__gte=load_started).count()
    latencies = [ms for window in windows for ms in window.latencies_ms]
    wall = sum(window.wall_seconds for window in windows)
    during = {
        "requests": len(latencies),
        "ok": sum(w.statuses.get(200, 0) for w in windows),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "rps": len(latencies) / wall if wall else 0.0,
    }
    impressions, clicks, batches, seconds = purge_out[-4:]
    print(_line("during the purge", during))
    print(
        f"purge: {int(impressions):,} impressions and {int(clicks):,} clicks in {int(batches):,} "
        f"batches, {float(seconds):.0f} s ({(int(impressions) + int(clicks)) / float(seconds):,.0f} "
        f"rows/s); {recorded:,} of the pages' impressions recorded by the worker since the load began"
    )
    ratio = during["p99_ms"] / baseline["p99_ms"]
    verdict = "PASS" if ratio <= TARGET_RATIO and during["ok"] == during["requests"] else "FAIL"
    print(f"TARGET retention_purge_page_p99_ratio {ratio:.2f} <= {TARGET_RATIO:g} {verdict}")
    return 0 if verdict == "PASS" else 1


def _line(label: str, row: dict) -> str:
    return (
        f"{label:<18}: {row['requests']:,} pages ({row['ok']:,} OK), {row['rps']:.0f}/s, "
        f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
