"""Prometheus metrics of the widget, the endpoint, the cache, the breaker and the event pipeline.

Counters and histograms live in each process (use prometheus-client's multiprocess mode, with
PROMETHEUS_MULTIPROC_DIR set, when gunicorn runs several workers). Figures that only the shared
cache knows (prefetch queue lag, events dropped in every process) are read from it at scrape time.
"""

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..cache.access import get_cache

PREFETCH_LAG_KEY = "recommendations:metrics:prefetch-lag"

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


class SharedStateCollector(Collector):
    """Figures kept in the shared cache, read when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
            "Impression and click events dropped by all processes (buffer full, cache down, refused)",
        )
        # Each drop once: this process's own are in the shared count once handed off.
        dropped.add_metric([], float(events.dropped_total()))
        yield dropped


_shared_collector = SharedStateCollector()
REGISTRY.register(_shared_collector)


def scrape_registry(multiprocess_dir: str | None) -> CollectorRegistry:
    """The registry to expose: this process's, or every worker's in multiprocess mode."""
    if not multiprocess_dir:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_shared_collector)
    return registry
