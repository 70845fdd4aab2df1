"""The tracking pipeline under faults: every render and click counted once, from the page to the report.

    .venv/bin/python bench/chaos.py [--quick] [--seconds 20] [--clients 4] [--only FAULT] [--keep]

The invariant (Jepsen's style: a workload, faults while it runs, then a check over every
operation): every widget render becomes exactly one impression row, or a drop counted with its
reason; every click on a rendered item becomes exactly one click row tied to its impression; and
the report, after a rollup, equals the raw rows.

Everything runs on the bench's own services, on loopback: a PostgreSQL cluster (`initdb` into
the work folder, `pg_ctl` on a free port, as the `postgres` user when run as root), a redis-server
with an append-only file (cache and Celery broker), gunicorn (2 workers x 4 threads) serving the
demo shop with tracking on, every customer in the model arm, and one Celery worker with the
broker's visibility timeout set to VISIBILITY_TIMEOUT seconds (600 in the demo): a message a lost
worker held is delivered again after that long. Client threads load the home page as logged-in
customers, read each page's request id (`data-request-id`) and its click links, and follow some
links (a few twice: a double click counts once). The driver knows every request id it was served.

Each fault runs in a phase of its own, then all of them in one combined phase:

    worker_kill       kill -9 of the Celery worker (and its pool) while its `record_events` insert
                      is in flight (held on a table lock the bench takes, so the kill lands
                      mid-insert); a new worker starts, the message comes back after the timeout
    redis_restart     the bench's redis-server stopped, down REDIS_DOWN_SECONDS, started again
    postgres_restart  `pg_ctl restart -m fast` of the bench's cluster while an insert is in flight;
                      page load pauses while the database is down (the shop's pages need it)
    gunicorn_kill     kill -9 of one gunicorn worker; the arbiter starts another
    rollup_purge      `roll_up_tracking` and `purge_tracking` in a loop while the load runs, with
                      expired rows for the purge to delete

After each phase the load stops, the pipeline settles (bounded), and the bench counts: impressions
and clicks lost and duplicated, drops with a reason (`/recommendations/metrics/`,
`recommendations_events_dropped{reason=...}`) and without one, 5xx answers, and the report (after
`roll_up_tracking`) against the raw rows. A web process killed by SIGKILL loses the events still in
its memory: the `X-Served-By` header (bench/harness/served_by.py) tells which pages it served, and
those losses are counted apart and held to the bound in recommendations/tracking/events.py (fewer than 2 x EVENT_BATCH_SIZE
events per killed process, none older than EVENT_FLUSH_INTERVAL plus one hand-off).

Ends with `TARGET chaos_events_lost`, `chaos_events_duplicated`, `chaos_report_matches_raw`,
`chaos_server_errors`, `chaos_killed_web_loss_within_bound` and the pages served per fault; exits
non-zero when a target fails.
"""

import argparse
import contextlib
import http.client
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from harness.cpu import descendants
from harness.own_postgres import OwnPostgres, own_postgres
from harness.own_redis import OwnRedis, own_redis
from harness.shop import (
    PYTHON,
    ROOT,
    START_TIMEOUT,
    ShopServer,
    endpoint_environment,
    login_customers,
    model_endpoint,
    seed_shop,
    serving_shop,
    setup_django,
    shop_environment,
    stop,
    training_interactions,
    work_folder,
)

FAULTS = ("worker_kill", "redis_restart", "postgres_restart", "gunicorn_kill", "rollup_purge")
COMBINED = "combined"
VISIBILITY_TIMEOUT = (
    20  # seconds; longer than the longest countdown a bench retry waits in a worker
)
REDIS_DOWN_SECONDS = 3.0
IN_FLIGHT_WAIT = 20.0  # seconds to wait for an insert to be in flight before a fault
CLICK_SHARE = 0.3  # pages whose driver follows a link
DOUBLE_CLICK_SHARE = 0.2  # followed links followed twice
EXPIRED_ROWS = 2000  # impressions past TRACKING_RETENTION_DAYS for the purge (a click per tenth)
MAX_PAGES_PER_CLIENT = 5000  # a bound on the load besides its time
REQUEST_TIMEOUT = 15.0
SETTLE_POLL = 1.0
REQUEST_ID = re.compile(rb'data-request-id="([0-9a-f]+)"')
CLICK_LINK = re.compile(rb'href="(/recommendations/click/[^"/]+/(\d+)/)"')
DROPPED_SAMPLE = re.compile(
    r'^recommendations_events_dropped(?:\{reason="([^"]*)"\})?\s+([0-9.eE+]+)$', re.M
)
ROLLUP_AND_PURGE = """
import time
from django.db import DatabaseError, close_old_connections
from recommendations import tasks
deadline = time.monotonic() + {seconds}
runs = purged = 0
while time.monotonic() < deadline and runs < 200:
    try:
        tasks.roll_up_tracking()
        purged += tasks.purge_tracking()
        runs += 1
    except DatabaseError:  # the database restarts: the tasks retry on this error too
        close_old_connections()
    time.sleep(0.5)
print(runs, purged)
"""


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases (about 4 minutes)")
    parser.add_argument("--seconds", type=float, default=None, help="load per phase")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--settle-seconds", type=float, default=150.0)
    parser.add_argument("--only", choices=[*FAULTS, COMBINED], action="append")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    options = parser.parse_args()
    if options.seconds is None:
        options.seconds = 10.0 if options.quick else 24.0
    return options


# --- what the driver saw -----------------------------------------------------------------------


@dataclass
class Seen:
    """A page or a click the driver was answered: when, by which web process."""

    phase: str
    pid: int
    at: float  # time.monotonic()


@dataclass
class PhaseLoad:
    """The answers of one phase."""

    statuses: Counter = field(default_factory=Counter)
    unanswered: int = 0
    retried: int = 0
    pages_without_widget: int = 0
    paused_seconds: float = 0.0


class Ledger:
    """Every request id and click the driver was served, by phase; shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pages: dict[str, Seen] = {}
        self.clicks: dict[tuple[str, int], Seen] = {}
        self.loads: dict[str, PhaseLoad] = {}

    def load(self, phase: str) -> PhaseLoad:
        with self.lock:
            return self.loads.setdefault(phase, PhaseLoad())

    def of_phase(self, phase: str) -> tuple[dict[str, Seen], dict[tuple[str, int], Seen]]:
        with self.lock:
            pages = {rid: seen for rid, seen in self.pages.items() if seen.phase == phase}
            clicks = {key: seen for key, seen in self.clicks.items() if seen.phase == phase}
        return pages, clicks


class Gate:
    """Lets client requests through, or holds them while the database restarts."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.lock = threading.Lock()
        self.in_flight = 0

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        self.open.wait(timeout=120)
        with self.lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1

    @contextlib.contextmanager
    def closed(self, load: PhaseLoad) -> Iterator[None]:
        started = time.monotonic()
        self.open.clear()
        deadline = started + REQUEST_TIMEOUT
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            yield
        finally:
            self.open.set()
            load.paused_seconds += time.monotonic() - started


class Client:
    """One client thread's keep-alive connection; a GET that failed is sent again once, as a
    browser does for an idempotent request whose connection broke."""

    def __init__(self, port: int, gate: Gate) -> None:
        self.port = port
        self.gate = gate
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)

    def get(self, path: str, cookie: str, load: PhaseLoad) -> tuple[object, int, bytes]:
        """(status or the error's name, the answering process id, body)."""
        status: object = None
        for attempt in range(2):
            with self.gate.request():
                try:
                    self.connection.request("GET", path, headers={"Cookie": cookie})
                    response = self.connection.getresponse()
                    body = response.read()
                    pid = int(response.getheader("X-Served-By") or 0)
                    return response.status, pid, body
                except (OSError, http.client.HTTPException) as error:
                    status = type(error).__name__
                    self.connection.close()
                    self.connection = self._connect()
            if attempt == 0:
                load.retried += 1
        return status, 0, b""

    def close(self) -> None:
        self.connection.close()


def drive(
    port: int,
    cookies: list[str],
    ledger: Ledger,
    gate: Gate,
    phase: str,
    seconds: float,
    clients: int,
    seed: int,
) -> None:
    """Load the home page from `clients` threads for `seconds`, following some click links."""
    load = ledger.load(phase)
    deadline = time.monotonic() + seconds

    def client_thread(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        client = Client(port, gate)
        try:
            for count in range(MAX_PAGES_PER_CLIENT):
                if time.monotonic() >= deadline:
                    break
                cookie = cookies[(number + count * clients) % len(cookies)]
                status, pid, body = client.get("/", cookie, load)
                with ledger.lock:
                    load.statuses[status] += 1
                if status != 200:
                    continue
                found = REQUEST_ID.search(body)
                if not found:
                    with ledger.lock:
                        load.pages_without_widget += 1
                    continue
                request_id = found.group(1).decode()
                with ledger.lock:
                    ledger.pages[request_id] = Seen(phase, pid, time.monotonic())
                links = sorted(
                    {(m.group(1).decode(), int(m.group(2))) for m in CLICK_LINK.finditer(body)}
                )
                if not links or rng.random() >= CLICK_SHARE:
                    continue
                link, position = rng.choice(links)
                for _ in range(2 if rng.random() < DOUBLE_CLICK_SHARE else 1):
                    status, pid, _ = client.get(link, cookie, load)
                    with ledger.lock:
                        load.statuses[status] += 1
                        if isinstance(status, int) and 300 <= status < 400:
                            ledger.clicks.setdefault(
                                (request_id, position), Seen(phase, pid, time.monotonic())
                            )
        finally:
            client.close()

    threads = [
        threading.Thread(target=client_thread, args=(n,), daemon=True) for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 4 * REQUEST_TIMEOUT + 150)


# --- the services and their faults -------------------------------------------------------------


class CeleryWorker:
    """One `celery worker` process (a prefork pool of one), started again after a kill."""

    def __init__(self, env: dict[str, str], work_dir: Path) -> None:
        self.env = env
        self.work_dir = work_dir
        self.process: subprocess.Popen | None = None
        self.generation = 0

    def start(self) -> None:
        self.generation += 1
        log_path = self.work_dir / f"worker-{self.generation}.log"
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "demo_shop",
                    "worker",
                    "--pool=prefork",
                    "--concurrency=1",
                    f"--hostname=chaos{self.generation}@%h",
                    "--loglevel=INFO",
                    "--without-gossip",
                    "--without-mingle",
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while "ready." not in log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the worker and its pool at once, as a lost machine."""
        if self.process is None:
            return
        for pid in reversed(descendants(self.process.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@dataclass
class Services:
    """What the bench runs, and what its faults did."""

    env: dict[str, str]
    redis: OwnRedis
    postgres: OwnPostgres
    database_url: str
    shop: ShopServer
    worker: CeleryWorker
    gate: Gate
    killed_web: list[tuple[int, float]] = field(default_factory=list)  # (pid, monotonic time)
    notes: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def insert_in_flight(self) -> Iterator[bool]:
        """Hold the impressions table so that the next `record_events` insert waits on it; yields
        whether one was seen waiting within IN_FLIGHT_WAIT seconds. The lock goes with the block."""
        import psycopg

        connection = psycopg.connect(self.database_url, autocommit=False)
        try:
            connection.execute("LOCK TABLE recommendations_impression IN SHARE MODE")
            deadline = time.monotonic() + IN_FLIGHT_WAIT
            seen = False
            while time.monotonic() < deadline and not seen:
                with psycopg.connect(self.database_url, autocommit=True) as probe:
                    seen = bool(
                        probe.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND query LIKE 'INSERT INTO \"recommendations_impression\"%%'"
                        ).fetchone()[0]
                    )
                time.sleep(0.1)
            yield seen
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    def kill_worker(self) -> None:
        with self.insert_in_flight() as seen:
            self.worker.kill()
        self.notes.append(f"worker killed {'mid-insert' if seen else 'with no insert in flight'}")
        self.worker.start()

    def restart_redis(self) -> None:
        self.redis.restart(REDIS_DOWN_SECONDS)
        self.notes.append(f"redis down {REDIS_DOWN_SECONDS:.0f} s")

    def restart_postgres(self, load: PhaseLoad) -> None:
        with self.insert_in_flight() as seen, self.gate.closed(load):
            self.postgres.restart()
        self.notes.append(
            f"postgres restarted {'mid-insert' if seen else 'with no insert in flight'}"
        )

    def kill_gunicorn_worker(self) -> None:
        workers = [
            pid for pid in descendants(self.shop.process.pid) if pid != self.shop.process.pid
        ]
        if not workers:
            self.notes.append("no gunicorn worker to kill")
            return
        pid = random.Random(len(self.killed_web)).choice(workers)
        os.kill(pid, signal.SIGKILL)
        self.killed_web.append((pid, time.monotonic()))
        self.notes.append(f"gunicorn worker {pid} killed")

    def roll_up_and_purge(self, seconds: float) -> tuple[int, int]:
        done = subprocess.run(
            [
                PYTHON,
                str(ROOT / "manage.py"),
                "shell",
                "--no-imports",
                "-c",
                ROLLUP_AND_PURGE.format(seconds=seconds),
            ],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=seconds + 300,
        )
        if done.returncode:
            self.notes.append(f"rollup/purge failed: {done.stderr.strip().splitlines()[-1:]}")
            return 0, 0
        runs, purged = (int(n) for n in done.stdout.split())
        self.notes.append(f"{runs} rollups and purges ran, {purged} expired rows purged")
        return runs, purged


def add_expired_rows() -> None:
    """Impressions (and a click for every tenth) older than TRACKING_RETENTION_DAYS, for the purge."""
    from datetime import timedelta

    from django.utils import timezone

    from recommendations.conf import app_settings
    from recommendations.models import Click, Impression

    old = timezone.now() - timedelta(days=int(app_settings.TRACKING_RETENTION_DAYS) + 10)
    tag = f"{random.getrandbits(32):08x}"
    items = [{"item_id": str(n), "position": n, "source": "model"} for n in range(1, 9)]
    Impression.objects.bulk_create(
        Impression(
            request_id=f"expired{tag}{n:017d}",
            arm="model",
            source="model",
            items=items,
            created_at=old,
        )
        for n in range(EXPIRED_ROWS)
    )
    Click.objects.bulk_create(
        Click(
            click_id=f"expired{tag}{n:017d}",
            impression_request_id=f"expired{tag}{n:017d}",
            item_id="3",
            position=3,
            arm="model",
            source="model",
            created_at=old,
        )
        for n in range(0, EXPIRED_ROWS, 10)
    )


def inject(services: Services, faults: tuple[str, ...], seconds: float, load: PhaseLoad) -> None:
    """Run `faults` one after another over the phase's load (the rollup and purge throughout)."""
    started = time.monotonic()
    background = None
    if "rollup_purge" in faults:
        background = threading.Thread(
            target=services.roll_up_and_purge, args=(seconds,), daemon=True
        )
        background.start()
    actions: dict[str, Callable[[], None]] = {
        "worker_kill": services.kill_worker,
        "redis_restart": services.restart_redis,
        "postgres_restart": lambda: services.restart_postgres(load),
        "gunicorn_kill": services.kill_gunicorn_worker,
    }
    timed = [fault for fault in faults if fault in actions]
    for number, fault in enumerate(timed, start=1):
        # Spread over the phase: the load runs before, between and after the faults.
        at = started + seconds * number / (len(timed) + 1)
        time.sleep(max(0.0, at - time.monotonic()))
        actions[fault]()
    if background is not None:
        background.join(seconds + 310)


# --- counting ----------------------------------------------------------------------------------


@dataclass
class Counts:
    """One phase's tally."""

    pages: int = 0
    clicks_made: int = 0
    impressions_lost: int = 0
    impressions_duplicated: int = 0
    clicks_lost: int = 0
    clicks_duplicated: int = 0
    clicks_not_made: int = 0
    lost_with_killed_web: int = 0
    killed_web_bound: int = 0
    drops: dict[str, int] = field(default_factory=dict)
    report_matches: bool = True
    report_detail: str = ""
    server_errors: int = 0
    unanswered: int = 0
    settle_seconds: float = 0.0

    @property
    def drops_with_reason(self) -> int:
        return sum(n for reason, n in self.drops.items() if reason)

    @property
    def lost(self) -> int:
        """Events neither stored nor counted as a drop with its reason, past the killed-web bound."""
        missing = self.impressions_lost + self.clicks_lost
        return max(0, missing - self.lost_with_killed_web - self.drops_with_reason)

    @property
    def drops_without_reason(self) -> int:
        return self.drops.get("", 0) + self.lost

    @property
    def duplicated(self) -> int:
        return self.impressions_duplicated + self.clicks_duplicated + self.clicks_not_made


def stored_rows(pages: dict[str, Seen]) -> tuple[Counter, Counter]:
    """Impression rows per request id, and click rows per (request id, position), of `pages`."""
    from recommendations.models import Click, Impression

    impressions: Counter = Counter()
    clicks: Counter = Counter()
    ids = list(pages)
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        impressions.update(
            Impression.objects.filter(request_id__in=chunk).values_list("request_id", flat=True)
        )
        clicks.update(
            Click.objects.filter(impression_request_id__in=chunk).values_list(
                "impression_request_id", "position"
            )
        )
    return impressions, clicks


def in_killed_memory(seen: Seen, killed_web: list[tuple[int, float]], window: float) -> bool:
    """Whether the event could still have been in a killed web process's memory when it died."""
    return any(
        seen.pid == pid and killed_at - window <= seen.at <= killed_at
        for pid, killed_at in killed_web
    )


def broker_busy(redis: OwnRedis) -> bool:
    """Whether the broker still holds `record_events` messages: queued, or taken and not yet
    acknowledged (a retry waiting for its countdown, a lost worker's)."""
    import redis as redis_py

    try:
        client = redis.client(0)
        raw = [*client.lrange("celery", 0, -1), *client.hvals("unacked")]
    except redis_py.RedisError:
        return True
    return any(b"recommendations.tasks.record_events" in message for message in raw)


def settle(
    services: Services, pages: dict[str, Seen], clicks: dict, window: float, limit: float
) -> float:
    """Wait until every event is stored, except those a killed web process may have lost with its
    memory, and the broker holds nothing; bounded by `limit` seconds. The seconds waited."""
    started = time.monotonic()
    from django.db import close_old_connections

    while time.monotonic() - started < limit:
        close_old_connections()
        try:
            impressions, stored_clicks = stored_rows(pages)
        except Exception:  # the database is restarting
            time.sleep(SETTLE_POLL)
            continue
        missing = [
            seen
            for rid, seen in pages.items()
            if not impressions[rid] and not in_killed_memory(seen, services.killed_web, window)
        ] + [
            seen
            for key, seen in clicks.items()
            if not stored_clicks[key] and not in_killed_memory(seen, services.killed_web, window)
        ]
        if not missing and not broker_busy(services.redis):
            break
        time.sleep(SETTLE_POLL)
    return time.monotonic() - started


def scrape_drops(port: int) -> dict[str, int]:
    """`recommendations_events_dropped` by reason, from the shop's /metrics ("" unlabelled)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("GET", "/recommendations/metrics/")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    return {reason or "": int(float(value)) for reason, value in DROPPED_SAMPLE.findall(text)}


def report_against_raw() -> tuple[bool, str]:
    """Roll up, then compare the report's totals and per-arm counts with the raw rows."""
    from django.db.models import Count

    from recommendations.models import Click, Impression
    from recommendations.reporting import report, rollups

    rollups.roll_up()
    built = report.build_report(days=2)
    _, _, since, until = report.report_period(2, None)
    window = Impression.objects.filter(created_at__gte=since, created_at__lt=until)
    raw: dict[str, list[int]] = {}
    for arm, n in window.values_list("arm").annotate(n=Count("pk")):
        raw[arm] = [n, 0, 0]
    arms_of = dict(window.values_list("request_id", "arm"))
    per_impression = Counter(
        Click.objects.filter(impression_request_id__in=list(arms_of)).values_list(
            "impression_request_id", flat=True
        )
    )
    for request_id, n in per_impression.items():
        raw[arms_of[request_id]][1] += 1
        raw[arms_of[request_id]][2] += n
    reported = {arm: [c.impressions, c.clicked, c.clicks] for arm, c in built.by_arm.items()}
    detail = f"report {reported} raw {raw}"
    return reported == raw, detail


def count_phase(
    services: Services, ledger: Ledger, phase: str, drops_before: dict[str, int], settled: float
) -> Counts:
    """The tally of `phase`, once it settled."""
    from django.db import close_old_connections

    from recommendations.conf import app_settings

    close_old_connections()
    pages, clicks = ledger.of_phase(phase)
    load = ledger.load(phase)
    impressions, stored_clicks = stored_rows(pages)
    window = float(app_settings.EVENT_FLUSH_INTERVAL) + 5.0
    counts = Counts(pages=len(pages), clicks_made=len(clicks), settle_seconds=settled)
    for rid, seen in pages.items():
        if not impressions[rid]:
            counts.impressions_lost += 1
            counts.lost_with_killed_web += in_killed_memory(seen, services.killed_web, window)
        counts.impressions_duplicated += max(0, impressions[rid] - 1)
    for key, seen in clicks.items():
        if not stored_clicks[key]:
            counts.clicks_lost += 1
            counts.lost_with_killed_web += in_killed_memory(seen, services.killed_web, window)
        counts.clicks_duplicated += max(0, stored_clicks[key] - 1)
    counts.clicks_not_made = sum(1 for key in stored_clicks if key not in clicks)
    killed_here = sum(1 for seen_pid, at in services.killed_web if at >= phase_started[phase])
    counts.killed_web_bound = killed_here * 2 * int(app_settings.EVENT_BATCH_SIZE)
    drops_after = scrape_drops(services.shop.port)
    counts.drops = {
        reason: drops_after.get(reason, 0) - drops_before.get(reason, 0)
        for reason in set(drops_after) | set(drops_before)
        if drops_after.get(reason, 0) - drops_before.get(reason, 0)
    }
    counts.report_matches, counts.report_detail = report_against_raw()
    counts.server_errors = sum(
        n for status, n in load.statuses.items() if isinstance(status, int) and status >= 500
    )
    counts.unanswered = sum(n for status, n in load.statuses.items() if not isinstance(status, int))
    return counts


phase_started: dict[str, float] = {}


def run_phase(
    services: Services, ledger: Ledger, cookies: list[str], phase: str, options: argparse.Namespace
) -> Counts:
    """Load, inject the phase's faults, settle, count."""
    from recommendations.conf import app_settings

    faults = FAULTS if phase == COMBINED else (phase,)
    if "rollup_purge" in faults:
        add_expired_rows()
    drops_before = scrape_drops(services.shop.port)
    phase_started[phase] = time.monotonic()
    load = ledger.load(phase)
    faulting = threading.Thread(
        target=inject, args=(services, faults, options.seconds, load), daemon=True
    )
    faulting.start()
    drive(
        services.shop.port,
        cookies,
        ledger,
        services.gate,
        phase,
        options.seconds,
        options.clients,
        seed=len(phase_started),
    )
    faulting.join(options.seconds + 400)
    pages, clicks = ledger.of_phase(phase)
    window = float(app_settings.EVENT_FLUSH_INTERVAL) + 5.0
    settled = settle(services, pages, clicks, window, options.settle_seconds)
    return count_phase(services, ledger, phase, drops_before, settled)


# --- the run -----------------------------------------------------------------------------------


def main() -> int:
    options = parse_arguments()
    with work_folder("chaos-bench-", keep=options.keep) as work_dir:
        try:
            return run(options, work_dir)
        except KeyboardInterrupt:
            print("interrupted: everything the bench started is being stopped", flush=True)
            return 130


def run(options: argparse.Namespace, work_dir: Path) -> int:
    phases = options.only or [*FAULTS, COMBINED]
    with ExitStack() as stack:
        started = time.monotonic()
        redis = stack.enter_context(own_redis(work_dir))
        postgres = stack.enter_context(own_postgres(work_dir))
        database_url = postgres.create_database("chaos_shop")
        env = shop_environment(database_url, redis.url(0))
        env["BENCH_VISIBILITY_TIMEOUT"] = str(VISIBILITY_TIMEOUT)
        seed_shop(env, products=200, customers=options.customers, lines=4000, seed=7)
        setup_django(env)
        cookies = [cookie for _, cookie in login_customers()]
        endpoint = stack.enter_context(
            model_endpoint(work_dir / "endpoint", training_interactions())
        )
        env.update(endpoint_environment(endpoint))
        worker = CeleryWorker(env, work_dir)
        worker.start()
        stack.callback(worker.stop)
        shop = stack.enter_context(
            serving_shop(
                "chaos", env, work_dir, workers=2, threads=4, app="harness.served_by:application"
            )
        )
        services = Services(env, redis, postgres, database_url, shop, worker, Gate())
        print(
            f"services: PostgreSQL :{postgres.port}, redis :{redis.port} (append-only), gunicorn "
            f":{shop.port} (2 workers x 4 threads), 1 Celery worker (visibility timeout "
            f"{VISIBILITY_TIMEOUT} s); {len(cookies)} customers; started in "
            f"{time.monotonic() - started:.0f} s; {options.seconds:.0f} s of load per phase, "
            f"{options.clients} client threads",
            flush=True,
        )
        ledger = Ledger()
        results: dict[str, Counts] = {}
        for phase in phases:
            services.notes = []
            results[phase] = run_phase(services, ledger, cookies, phase, options)
            print_phase(phase, results[phase], ledger.load(phase), services.notes)
        phantom = pages_never_received(ledger, started_at=started)
    return report(results, phantom)


def pages_never_received(ledger: Ledger, started_at: float) -> int:
    """Impression rows of this run whose page no client got (a worker killed after rendering)."""
    from recommendations.models import Impression

    stored = set(
        Impression.objects.exclude(request_id__startswith="expired").values_list(
            "request_id", flat=True
        )
    )
    return len(stored - set(ledger.pages))


def print_phase(phase: str, counts: Counts, load: PhaseLoad, notes: list[str]) -> None:
    drops = (
        " ".join(f"{reason or '(none)'}:{n}" for reason, n in sorted(counts.drops.items())) or "0"
    )
    print(
        f"\n== {phase}: {counts.pages} pages with the widget, {counts.clicks_made} clicks "
        f"({'; '.join(notes) or 'no fault'})\n"
        f"   impressions lost {counts.impressions_lost}, duplicated {counts.impressions_duplicated}; "
        f"clicks lost {counts.clicks_lost}, duplicated {counts.clicks_duplicated}, "
        f"rows of clicks not made {counts.clicks_not_made}\n"
        f"   lost with a killed web process's memory {counts.lost_with_killed_web} "
        f"(bound {counts.killed_web_bound}); drops with a reason {drops}; "
        f"lost without a reason {counts.lost}\n"
        f"   report after a rollup equals the raw rows: {'yes' if counts.report_matches else 'NO'}"
        f"{'' if counts.report_matches else ' (' + counts.report_detail + ')'}\n"
        f"   answers {dict(sorted(load.statuses.items(), key=str))}, 5xx {counts.server_errors}, "
        f"no answer after a retry {counts.unanswered} (retried {load.retried}), "
        f"pages without the widget {load.pages_without_widget}, load paused "
        f"{load.paused_seconds:.1f} s; settled in {counts.settle_seconds:.0f} s",
        flush=True,
    )


def report(results: dict[str, Counts], phantom: int) -> int:
    print()
    header = (
        f"{'phase':<17} {'pages':>6} {'clicks':>6} {'imp lost':>8} {'imp dup':>7} {'clk lost':>8} "
        f"{'clk dup':>7} {'killed-web':>10} {'drops+r':>7} {'drops-r':>7} {'report':>6} {'5xx':>4}"
    )
    print(header)
    for phase, c in results.items():
        print(
            f"{phase:<17} {c.pages:6d} {c.clicks_made:6d} {c.impressions_lost:8d} "
            f"{c.impressions_duplicated:7d} {c.clicks_lost:8d} {c.clicks_duplicated + c.clicks_not_made:7d} "
            f"{c.lost_with_killed_web:4d}/{c.killed_web_bound:<5d} {c.drops_with_reason:7d} "
            f"{c.drops_without_reason:7d} {'=' if c.report_matches else '!=':>6} {c.server_errors:4d}"
        )
    print(f"impression rows of pages whose answer no client received: {phantom}")
    lost = sum(c.lost for c in results.values())
    duplicated = sum(c.duplicated for c in results.values())
    matches = int(all(c.report_matches for c in results.values()))
    errors = sum(c.server_errors for c in results.values())
    killed_ok = all(c.lost_with_killed_web <= c.killed_web_bound for c in results.values())
    killed = sum(c.lost_with_killed_web for c in results.values())
    bound = sum(c.killed_web_bound for c in results.values())
    targets = [
        ("chaos_events_lost", lost, "== 0", lost == 0),
        ("chaos_events_duplicated", duplicated, "== 0", duplicated == 0),
        ("chaos_report_matches_raw", matches, "== 1", matches == 1),
        ("chaos_server_errors", errors, "== 0", errors == 0),
        ("chaos_killed_web_loss_within_bound", killed, f"<= {bound}", killed_ok),
    ]
    for phase, c in results.items():
        print(f"pages served under {phase}: {c.pages}")
    for name, value, goal, passed in targets:
        print(f"TARGET {name} {value} {goal} {'PASS' if passed else 'FAIL'}")
    return 0 if all(passed for *_, passed in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
