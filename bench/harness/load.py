"""A bounded closed-loop load: `concurrency` threads, each a keep-alive connection, send GETs one
after another until `requests` are done or `max_seconds` have passed, timing each one.

The client is deliberately plain (`http.client`, no sessions or retries) so that its own cost per
request stays a small, constant share of the machine next to the server's.
"""

import http.client
import itertools
import math
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .cpu import cpu_seconds

# The widget's section tag says where its items came from.
WIDGET_SOURCE = re.compile(rb'<section class="recommendations"[^>]*?data-source="(\w+)"')


@dataclass
class Sample:
    """One bounded run against one server."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # HTTP status, or the exception's name
    sources: Counter = field(default_factory=Counter)  # widget data-source, "none" without widget
    wall_seconds: float = 0.0
    server_cpu_seconds: float = 0.0  # CPU the server processes used during the run

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def failures(self) -> int:
        """Answers with a 5xx status, and requests that got no answer at all."""
        return sum(n for status, n in self.statuses.items() if not _is_success_or_client(status))


def _is_success_or_client(status: object) -> bool:
    return isinstance(status, int) and status < 500


def run_load(
    port: int,
    path: str,
    cookies: Sequence[str],
    *,
    requests: int,
    concurrency: int,
    max_seconds: float,
    timeout: float = 10.0,
    cpu_pids: Sequence[int] = (),
) -> Sample:
    """GET `path` `requests` times (the i-th with cookies[i % len]) from `concurrency` threads.

    `cpu_pids`: server processes (with their descendants) whose CPU time the run is charged.
    """
    sample = Sample()
    lock = threading.Lock()
    counter = itertools.count()
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        latencies, statuses, sources = [], Counter(), Counter()
        while time.monotonic() < deadline:
            index = next(counter)  # atomic under the GIL
            if index >= requests:
                break
            headers = {"Cookie": cookies[index % len(cookies)]} if cookies else {}
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                status: object = response.status
            except (OSError, http.client.HTTPException) as error:
                body = b""
                status = type(error).__name__
                connection.close()  # the next request opens a new connection
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            match = WIDGET_SOURCE.search(body)
            sources[match.group(1).decode() if match else "none"] += 1
        connection.close()
        with lock:
            sample.latencies_ms.extend(latencies)
            sample.statuses.update(statuses)
            sample.sources.update(sources)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    cpu_before = cpu_seconds(cpu_pids)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + timeout + 5)
    sample.wall_seconds = time.perf_counter() - started
    sample.server_cpu_seconds = cpu_seconds(cpu_pids) - cpu_before
    return sample


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of `values`."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Summary:
    """Several rounds of one scenario, pooled: median throughput, latency percentiles, failures."""

    name: str
    rounds: list[Sample]

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.rounds)

    @property
    def requests_per_second(self) -> float:
        """Median over rounds: robust to a round slowed by something else on the machine."""
        return statistics.median(s.requests_per_second for s in self.rounds)

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per request over all rounds (the inverse of CPU-bound capacity)."""
        return 1000 * sum(s.server_cpu_seconds for s in self.rounds) / max(self.requests, 1)

    @property
    def latencies_ms(self) -> list[float]:
        return [latency for s in self.rounds for latency in s.latencies_ms]

    def latency(self, q: float) -> float:
        """The `q`-th percentile latency in ms over every request of every round."""
        return percentile(self.latencies_ms, q)

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms, default=math.nan)

    @property
    def failures(self) -> int:
        return sum(s.failures for s in self.rounds)

    @property
    def statuses(self) -> Counter:
        total: Counter = Counter()
        for s in self.rounds:
            total.update(s.statuses)
        return total

    @property
    def sources(self) -> Counter:
        total: Counter = Counter()
        for s in self.rounds:
            total.update(s.sources)
        return total


def format_counter(counter: Counter) -> str:
    """`a:3 b:1`, most common first."""
    return " ".join(f"{key}:{n}" for key, n in counter.most_common())
