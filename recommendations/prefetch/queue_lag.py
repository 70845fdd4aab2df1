"""Prefetch queue lag: how long a prefetch task waited in the broker before a worker began it.

Publishing stamps the message with the time (a custom header); the worker compares it with its
clock when the task starts and keeps the figure in the shared cache for the metrics view.
"""

import time
from typing import Any

from celery.signals import before_task_publish, task_prerun

from ..ops import metrics

HEADER = "recommendations_sent_at"
PREFETCH_TASKS = frozenset(
    {"recommendations.tasks.prefetch_user", "recommendations.tasks.prefetch_users"}
)


@before_task_publish.connect(weak=False, dispatch_uid="recommendations.stamp_sent_at")
def stamp_sent_at(sender: str | None = None, headers: dict | None = None, **kwargs: Any) -> None:
    """Put the publishing time on prefetch messages."""
    if sender in PREFETCH_TASKS and headers is not None:
        headers.setdefault(HEADER, time.time())


@task_prerun.connect(weak=False, dispatch_uid="recommendations.measure_lag")
def measure_lag(task: Any = None, **kwargs: Any) -> None:
    """Record the wait of a prefetch task that came through the broker."""
    if task is None or task.name not in PREFETCH_TASKS:
        return
    sent_at = getattr(task.request, HEADER, None)
    if sent_at is None and isinstance(getattr(task.request, "headers", None), dict):
        sent_at = task.request.headers.get(HEADER)
    if sent_at is not None:
        metrics.record_prefetch_lag(max(0.0, time.time() - float(sent_at)))
