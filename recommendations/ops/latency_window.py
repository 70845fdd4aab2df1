"""Endpoint latencies of the last hour, shared by every process through the cache.

Prometheus histograms live in each process; `recommendations_probe --alert` must judge the whole
shop, so each endpoint call also adds one to a per-minute bucket counter in the cache (one `incr`
per call, never per page view on a cache hit). p99 over a window is read from those counters.
"""

import time

from ..cache.access import CacheUnavailable, get_cache

KEY_PREFIX = "recommendations:latency:"
# Upper bounds of the buckets in milliseconds; the last bucket is everything slower.
BOUNDS_MS = (5, 10, 25, 50, 100, 150, 250, 500, 1000, 2500, 5000, 10000)
MINUTE = 60
KEEP_SECONDS = 2 * 60 * 60


def _bucket_index(duration_ms: float) -> int:
    for index, bound in enumerate(BOUNDS_MS):
        if duration_ms <= bound:
            return index
    return len(BOUNDS_MS)


def _key(minute: int, bucket: int) -> str:
    return f"{KEY_PREFIX}{minute}:{bucket}"


def record(duration_ms: float, now: float | None = None) -> None:
    """Count one endpoint call of `duration_ms` in the current minute."""
    minute = int((time.time() if now is None else now) // MINUTE)
    key = _key(minute, _bucket_index(duration_ms))
    cache = get_cache().strict
    try:
        # add then incr: add creates the counter with its expiry, incr is atomic in Redis.
        if not cache.add(key, 1, KEEP_SECONDS):
            cache.incr(key)
    except (CacheUnavailable, ValueError):
        pass  # no cache (or the key expired in between): this call goes uncounted


def counts(window_seconds: int = 3600, now: float | None = None) -> list[int]:
    """Calls per bucket over the last `window_seconds`."""
    now_minute = int((time.time() if now is None else now) // MINUTE)
    minutes = range(now_minute - window_seconds // MINUTE + 1, now_minute + 1)
    keys = [_key(m, b) for m in minutes for b in range(len(BOUNDS_MS) + 1)]
    found = get_cache().get_many(keys)
    totals = [0] * (len(BOUNDS_MS) + 1)
    for key, value in found.items():
        if type(value) is int:  # a counter; anything else was not written by the app
            totals[int(key.rsplit(":", 1)[1])] += value
    return totals


def percentile_ms(q: float, window_seconds: int = 3600, now: float | None = None) -> float | None:
    """The upper bound of the bucket holding the q-quantile (None without calls; inf past 10 s)."""
    totals = counts(window_seconds, now)
    calls = sum(totals)
    if not calls:
        return None
    rank = q * calls
    seen = 0
    for index, count in enumerate(totals):
        seen += count
        if seen >= rank:
            return float(BOUNDS_MS[index]) if index < len(BOUNDS_MS) else float("inf")
    return float("inf")
