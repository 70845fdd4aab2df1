"""The app's tasks on named queues: `record_events`, the prefetch and the maintenance jobs each on
their own, through a router the shop names in CELERY_TASK_ROUTES and can override; and events recorded while a long prefetch pass is queued do not wait
behind it (a real worker on the real Redis broker)."""

import re
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from recommendations.models import Impression
from recommendations.tracking import events
from tests.app.shop.celery import app as celery_app
from tests.support.celery_worker import publishing_to, running_worker, wait_for
from tests.support.services import require

REPO_ROOT = Path(__file__).resolve().parents[2]
QUEUE_OF_TASK = {
    "recommendations.tasks.record_events": "recommendations.events",
    "recommendations.tasks.prefetch_active_users": "recommendations.prefetch",
    "recommendations.tasks.prefetch_users": "recommendations.prefetch",
    "recommendations.tasks.prefetch_user": "recommendations.prefetch",
    "recommendations.tasks.refresh_fallback": "recommendations.maintenance",
    "recommendations.tasks.roll_up_tracking": "recommendations.maintenance",
    "recommendations.tasks.purge_tracking": "recommendations.maintenance",
    "recommendations.tasks.export_interactions": "recommendations.maintenance",
    "recommendations.tasks.publish_cloudwatch_metrics": "recommendations.maintenance",
    "recommendations.tasks.compute_drift": "recommendations.maintenance",
    "recommendations.tasks.compute_quality": "recommendations.maintenance",
}


def routed_queue(app: Celery, task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_each_task_of_the_app_is_routed_to_its_queue():
    assert {name: routed_queue(celery_app, name) for name in QUEUE_OF_TASK} == QUEUE_OF_TASK
    assert set(QUEUE_OF_TASK) <= {name for name in celery_app.tasks if name.startswith("recom")}
    assert routed_queue(celery_app, "shop.some_task") == "celery"  # the shop's own


def test_a_shop_routes_a_task_elsewhere_by_naming_it_before_the_apps_router():
    app = Celery("shop", set_as_current=False)
    app.conf.task_routes = (
        {"recommendations.tasks.prefetch_user": {"queue": "logins"}},
        "recommendations.task_routes.route_task",
    )
    assert routed_queue(app, "recommendations.tasks.prefetch_user") == "logins"
    assert routed_queue(app, "recommendations.tasks.prefetch_users") == "recommendations.prefetch"


def test_a_shop_without_the_router_keeps_every_task_on_its_default_queue():
    # What an installation upgraded without the new setting sees: its workers consume it all.
    app = Celery("shop", set_as_current=False)
    assert {routed_queue(app, name) for name in QUEUE_OF_TASK} == {"celery"}


@pytest.fixture
def redis_broker() -> str:
    require("redis", settings.TEST_REDIS_URL, 6379)
    import redis

    redis.Redis.from_url(settings.TEST_REDIS_BROKER_URL).flushdb()
    redis.Redis.from_url(settings.TEST_REDIS_CACHE_URL).flushdb()
    return settings.TEST_REDIS_BROKER_URL


def impression(request_id: str) -> dict:
    return {
        "kind": events.IMPRESSION,
        "request_id": request_id,
        "pseudonym": "p",
        "arm": "model",
        "source": "model",
        "model_version": "",
        "variant": "",
        "fallback_reason": "",
        "items": [],
        "created_at": time.time(),
    }


@pytest.mark.integration
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_events_do_not_wait_behind_a_queued_prefetch_pass(redis_broker, tmp_path):
    """60 prefetch batches queued first, then one batch of events; one worker process, started
    after both were published, so the order it meets them in is the broker's alone."""
    from recommendations.tasks import prefetch_users

    # Everybody held out: a batch is quick and needs no endpoint; what counts is where it waits.
    worker_settings = {"TRACKING": True, "HOLDOUT_SHARE": 1.0, "CONTROL_SHARE": 0.0}
    with publishing_to(redis_broker):
        for n in range(60):
            prefetch_users.delay([10_000 + n])
        events.hand_off([impression(uuid.uuid4().hex)])
    with running_worker(
        tmp_path,
        broker_url=redis_broker,
        cache_url=settings.TEST_REDIS_CACHE_URL,
        recommendations=worker_settings,
    ) as worker:
        wait_for(lambda: Impression.objects.exists(), timeout=60)
        wait_for(lambda: worker.log().count("prefetch_users[") >= 120, timeout=60)
        log = worker.log()
    # The worker's log holds each task's "succeeded" line in the order it ran them (one process).
    finished = re.findall(r"Task recommendations\.tasks\.(\w+)\[[^\]]+\] succeeded", log)
    assert finished.count("prefetch_users") == 60
    before_events = finished.index("record_events")
    print(f"prefetch batches run before the events: {before_events} of 60")
    assert before_events <= 3, f"{before_events} prefetch batches ran before the events"
