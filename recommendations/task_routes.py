"""Which Celery queue each of the app's tasks goes to: a router the shop names in its settings.

    CELERY_TASK_ROUTES = ("recommendations.task_routes.route_task",)

The tracking events, the prefetching and the maintenance jobs each get a queue of their own, so
that a page's events never wait behind a prefetch pass's batches, and a shop can give each its own
workers (`celery -A shop worker -Q recommendations.events`). A shop routes a task elsewhere by
naming it in a router placed before this one (Celery asks the routers in order); a shop that names
no router keeps every task on its default queue, which its workers already consume.
"""

from typing import Any

EVENTS_QUEUE = "recommendations.events"
PREFETCH_QUEUE = "recommendations.prefetch"
MAINTENANCE_QUEUE = "recommendations.maintenance"
QUEUES = (EVENTS_QUEUE, PREFETCH_QUEUE, MAINTENANCE_QUEUE)

# By name: the names are what queued messages carry, and they never change.
QUEUE_OF_TASK = {
    "recommendations.tasks.record_events": EVENTS_QUEUE,
    "recommendations.tasks.prefetch_active_users": PREFETCH_QUEUE,
    "recommendations.tasks.prefetch_users": PREFETCH_QUEUE,
    "recommendations.tasks.prefetch_user": PREFETCH_QUEUE,
    "recommendations.tasks.refresh_fallback": MAINTENANCE_QUEUE,
    "recommendations.tasks.roll_up_tracking": MAINTENANCE_QUEUE,
    "recommendations.tasks.purge_tracking": MAINTENANCE_QUEUE,
    "recommendations.tasks.export_interactions": MAINTENANCE_QUEUE,
    "recommendations.tasks.publish_cloudwatch_metrics": MAINTENANCE_QUEUE,
    "recommendations.tasks.compute_drift": MAINTENANCE_QUEUE,
    "recommendations.tasks.compute_quality": MAINTENANCE_QUEUE,
}


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> Any:
    """Celery router: the queue of one of the app's tasks; None for any other task."""
    queue = QUEUE_OF_TASK.get(name)
    return None if queue is None else {"queue": queue}
