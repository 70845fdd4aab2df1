"""Prometheus metrics of the widget, the endpoint, the cache, the breaker and the event pipeline.

Counters and histograms live in each process (use prometheus-client's multiprocess mode, with
PROMETHEUS_MULTIPROC_DIR set, when gunicorn runs several workers). Figures that only the shared
cache knows (prefetch queue lag, events dropped in every process) are read from it at scrape time.
"""

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..cache.access import CacheUnavailable, get_cache
from .drift_metrics import drift_collector
from .quality_metrics import quality_collector

PREFETCH_LAG_KEY = "recommendations:metrics:prefetch-lag"
PASSES_SKIPPED_KEY = "recommendations:metrics:prefetch-passes-skipped"
FRESH_SKIPPED_KEY = "recommendations:metrics:prefetch-fresh-skipped"

WIDGET_RENDERS = Counter(
    "recommendations_widget_renders", "Widgets rendered, by where the items came from", ["source"]
)
FALLBACK_REASONS = Counter(
    "recommendations_fallback", "Answers not (wholly) from the model, by reason", ["reason"]
)
ENDPOINT_LATENCY = Histogram(
    "recommendations_endpoint_latency_seconds",
    "Endpoint calls by purpose and outcome",
    ["purpose", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE_LOOKUPS = Counter(
    "recommendations_cache_lookups", "Prefetched-entry lookups: fresh, stale or miss", ["result"]
)
BREAKER_STATE = Gauge(
    "recommendations_breaker_open",
    "1 while this process saw the endpoint's circuit breaker open (or half-open), else 0",
    ["endpoint"],
    multiprocess_mode="max",
)


# The labelled children counted on every page, looked up once per process: `labels()` validates
# and locks on each call, and a cached page counts two of them.
_children: dict[tuple[Any, str], Any] = {}


def _child(metric: Any, value: str) -> Any:
    key = (metric, value)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(value)
    return child


def record_render(source: str, reason: str | None) -> None:
    """One rendered widget."""
    _child(WIDGET_RENDERS, source).inc()
    if reason:
        _child(FALLBACK_REASONS, reason).inc()


def record_lookup(result: str) -> None:
    """A prefetched-entry lookup: "fresh", "stale" or "miss"."""
    _child(CACHE_LOOKUPS, result).inc()


def record_endpoint_call(purpose: str, outcome: str, seconds: float) -> None:
    """One endpoint call; outcome "ok" or the error reason."""
    from . import latency_window

    ENDPOINT_LATENCY.labels(purpose=purpose, outcome=outcome).observe(seconds)
    latency_window.record(seconds * 1000)


def record_breaker(endpoint: str, state: str) -> None:
    """The breaker state this process just saw."""
    BREAKER_STATE.labels(endpoint=endpoint).set(0 if state == "closed" else 1)


def record_prefetch_lag(seconds: float) -> None:
    """How long the last prefetch task waited in the queue (shared by all workers)."""
    get_cache().set(PREFETCH_LAG_KEY, (seconds, time.time()), 3600)


def count_shared(key: str, amount: int = 1) -> None:
    """Add `amount` to a count that every process (web and worker) shares through the cache."""
    cache = get_cache().strict
    # A count the cache cannot take is lost: a figure for /metrics, never worth failing a task.
    with contextlib.suppress(CacheUnavailable):
        try:
            cache.incr(key, amount)
        except ValueError:
            if not cache.add(key, amount, None):
                cache.incr(key, amount)  # another process created it meanwhile


def shared_count(key: str) -> int:
    """A count kept with `count_shared` (0 when missing or the cache is down)."""
    value = get_cache().get(key)
    return int(value) if isinstance(value, int) else 0


class SharedStateCollector(Collector):
    """Figures kept in the shared cache, read when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from ..tracking import events

        lag = get_cache().get(PREFETCH_LAG_KEY)
        gauge = GaugeMetricFamily(
            "recommendations_prefetch_queue_lag_seconds",
            "Time the last prefetch task waited in the broker before a worker started it",
        )
        if isinstance(lag, list | tuple) and lag:
            gauge.add_metric([], float(lag[0]))
        yield gauge
        dropped = GaugeMetricFamily(
            "recommendations_events_dropped",
            "Impression, click and engagement events dropped by all processes, by reason",
            labels=["reason"],
        )
        # Each drop once: this process's own are in the shared count once handed off.
        for reason, count in events.dropped_by_reason().items():
            dropped.add_metric([reason], float(count))
        yield dropped
        yield CounterMetricFamily(
            "recommendations_prefetch_passes_skipped",
            "Prefetch passes beat started while another pass was still paging, skipped",
            value=shared_count(PASSES_SKIPPED_KEY),
        )
        yield CounterMetricFamily(
            "recommendations_prefetch_fresh_skipped",
            "Users a prefetch pass left alone because their entry was still fresh",
            value=shared_count(FRESH_SKIPPED_KEY),
        )


_shared_collector = SharedStateCollector()
REGISTRY.register(_shared_collector)
REGISTRY.register(drift_collector)
REGISTRY.register(quality_collector)


def scrape_registry(multiprocess_dir: str | None) -> CollectorRegistry:
    """The registry to expose: this process's, or every worker's in multiprocess mode."""
    if not multiprocess_dir:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_shared_collector)
    registry.register(drift_collector)
    registry.register(quality_collector)
    return registry
