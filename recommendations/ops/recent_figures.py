"""The shop-wide figures of the last hour (or any window): for alerts and for CloudWatch.

Widget renders, sources and fallback reasons come from the impressions table (so they need
`TRACKING`); endpoint latency from the shared latency window; prefetch queue lag and dropped
events from the cache. No figure comes from one process's memory.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from ..cache.access import get_cache
from ..models import Impression
from ..tracking import arms, events
from . import latency_window
from .metrics import PREFETCH_LAG_KEY


@dataclass
class RecentFigures:
    window_seconds: int
    renders: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    # Renders where the model was meant to answer (not the holdout, not anonymous visitors).
    model_arm_renders: int = 0
    model_arm_from_model: int = 0
    fallback_reasons: dict[str, int] = field(default_factory=dict)
    endpoint_p50_ms: float | None = None
    endpoint_p99_ms: float | None = None
    endpoint_calls: int = 0
    prefetch_lag_seconds: float | None = None
    events_dropped: int = 0

    @property
    def fallback_rate(self) -> float | None:
        """Share of the model arms' renders not wholly from the model (None without any)."""
        if not self.model_arm_renders:
            return None
        return 1 - self.model_arm_from_model / self.model_arm_renders


def recent_figures(window_seconds: int = 3600) -> RecentFigures:
    """Figures over the last `window_seconds`."""
    since = timezone.now() - timedelta(seconds=window_seconds)
    recent = Impression.objects.filter(created_at__gte=since)
    figures = RecentFigures(window_seconds=window_seconds)
    for row in recent.values("source").annotate(n=Count("pk")):
        figures.by_source[row["source"]] = row["n"]
    figures.renders = sum(figures.by_source.values())
    model_arms = recent.filter(arm__in=[arms.MODEL, arms.SECOND_VARIANT])
    figures.model_arm_renders = model_arms.count()
    figures.model_arm_from_model = model_arms.filter(source="model").count()
    for row in recent.exclude(fallback_reason="").values("fallback_reason").annotate(n=Count("pk")):
        figures.fallback_reasons[row["fallback_reason"]] = row["n"]
    figures.endpoint_calls = sum(latency_window.counts(window_seconds))
    figures.endpoint_p50_ms = latency_window.percentile_ms(0.5, window_seconds)
    figures.endpoint_p99_ms = latency_window.percentile_ms(0.99, window_seconds)
    lag = get_cache().get(PREFETCH_LAG_KEY)
    if isinstance(lag, list | tuple) and lag:
        figures.prefetch_lag_seconds = float(lag[0])
    figures.events_dropped = events.dropped_total()
    return figures
