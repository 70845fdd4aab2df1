"""The worker's side of the event hand-off, for tests: the `record_events` messages that web
processes sent to a broker, taken off its queue and run here.

Each message is the real one the buffer sent (through the test settings' in-memory broker, or a
real Redis broker); its task runs through Celery's `apply`, the task's own code and retries, in
this process, so a test sees what a worker would insert without starting one.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, current_app
from kombu import Connection

from recommendations import tasks
from recommendations.tracking import events


def queued_messages(
    broker_url: str | None = None, queue_name: str | None = None
) -> list[tuple[list, dict]]:
    """Take every `record_events` message off the queue: (args, kwargs) of each, in order."""
    app = current_app
    # The queue the shop's routes send `record_events` to (its default queue without any).
    queue_name = queue_name or app.amqp.router.route({}, events.RECORD_EVENTS_TASK)["queue"].name
    connection = Connection(broker_url) if broker_url else app.connection_for_read()
    taken = []
    with connection:
        queue = connection.SimpleQueue(queue_name)
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                message.ack()
                if message.headers.get("task") == events.RECORD_EVENTS_TASK:
                    args, kwargs, _ = message.payload
                    taken.append((args, kwargs))
        finally:
            queue.close()
    return taken


def deliver_events(broker_url: str | None = None, queue_name: str | None = None) -> int:
    """Run every queued `record_events` message as a worker would; how many events it inserted."""
    inserted = 0
    for args, kwargs in queued_messages(broker_url, queue_name):
        inserted += tasks.record_events.apply(args=args, kwargs=kwargs, throw=True).get()
    return inserted


@contextmanager
def unreachable_broker(port: int) -> Iterator[Any]:
    """Make a Celery app whose broker refuses connections the current and default one."""
    previous = current_app._get_current_object()
    app = Celery("unreachable-broker", broker=f"redis://127.0.0.1:{port}/0", set_as_current=False)
    app.conf.broker_connection_timeout = 0.2
    app.set_current()
    app.set_default()
    try:
        yield app
    finally:
        previous.set_current()
        previous.set_default()
