"""The demo shop's wiring of the app: its beat schedule (the installation guide's), its workers'
queues, and the engagement signals its pages send. Moved here from the app's tests, which run on
the app's minimal settings."""

from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from recommendations import tasks
from recommendations.checks import check_settings
from recommendations.models import EngagementEvent
from recommendations.tasks import purge_tracking, roll_up_tracking
from recommendations.tracking import events
from recommendations.tracking.engagement import arm_of_user
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.shop_data import make_shop

REPO_ROOT = Path(__file__).resolve().parents[2]
# The queues of the app's tasks (tests/app/test_task_queues.py routes each task to its own).
QUEUES = {"recommendations.events", "recommendations.prefetch", "recommendations.maintenance"}
# A configuration the checks pass (as tests/app/test_checks.py's GOOD).
GOOD = {
    "ENDPOINT_NAME": "shop-recommender",
    "PRODUCT_MODEL": "catalog.Product",
    "CATALOG": "demo_shop.catalog.recommendations.DemoCatalog",
    "CURRENCY": "EUR",  # both shops sell in euros (W004 asks a shop with prices to say so)
}
MEASURED = {"TRACKING": True, "CONTROL_SHARE": 0.5, "EVENT_FLUSH_INTERVAL": 60.0}


def ids(**overrides):
    with override_settings(RECOMMENDATIONS={**GOOD, **overrides}):
        return [message.id for message in check_settings()]


@pytest.fixture
def measured():
    events.buffer().clear()
    with override_settings(RECOMMENDATIONS=MEASURED):
        yield
    events.buffer().clear()


def flush():
    """The buffered events into the database, as the record_events task would insert them."""
    return events.write_buffered()


def test_beat_refreshes_the_fallback_hourly(settings):
    entries = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == tasks.refresh_fallback.name
    ]
    assert [e["schedule"] for e in entries] == [3600]


def test_beat_purges_the_raw_rows_daily(settings):
    (entry,) = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == purge_tracking.name
    ]
    assert entry["schedule"].hour == {4}


def test_beat_rolls_up_hourly(settings):
    (entry,) = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == roll_up_tracking.name
    ]
    assert entry["schedule"].minute == {5}


def test_the_installation_guides_schedule_holds_every_periodic_task_and_passes_the_check(
    settings,
):
    from pathlib import Path

    guide = (Path(settings.BASE_DIR) / "docs" / "installation.md").read_text()
    (snippet,) = [
        block for block in guide.split("```python\n") if "CELERY_BEAT_SCHEDULE = {" in block
    ]
    names: dict = {}
    exec(snippet.split("```")[0], names)  # noqa: S102 - the guide's own code
    schedule = names["CELERY_BEAT_SCHEDULE"]
    demo_tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert demo_tasks <= {entry["task"] for entry in schedule.values()}
    with override_settings(CELERY_BEAT_SCHEDULE=schedule):
        assert ids(TRACKING=True) == []


def test_the_demo_workers_consume_every_queue():
    from demo_shop.celery import app as celery_app

    consumed = set(celery_app.amqp.queues)
    assert consumed >= {*QUEUES, "celery"}
    worker_line = next(
        line
        for line in (REPO_ROOT / "Procfile").read_text().splitlines()
        if line.startswith("worker:")
    )
    assert " -Q" not in worker_line  # consumes CELERY_TASK_QUEUES: all of them


@pytest.mark.django_db
def test_the_demo_shop_sends_a_product_view_an_add_to_cart_and_a_purchase(measured, client):
    products, customers = make_shop()
    customer = customers[0]
    client.force_login(customer)
    product = products[0]
    assert client.get(product.get_absolute_url()).status_code == 200
    assert client.post(reverse("cart_add", args=[product.pk])).status_code == 302
    assert client.post(reverse("checkout")).status_code == 302
    flush()
    assert list(
        EngagementEvent.objects.order_by("created_at").values_list("pseudonym", "arm", "action")
    ) == [
        (pseudonym(customer.pk), arm_of_user(customer), action)
        for action in ("product_view", "add_to_cart", "purchase")
    ]
