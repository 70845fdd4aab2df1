"""Impressions and clicks: recorded per rendered widget, counted through the signed redirect, handed
to a worker in batches (one Celery message each) and inserted in bulk, and never costing the page
(bounded buffer, dropped events counted)."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from html import unescape

import pytest
from django.core import signing
from django.test import override_settings
from django.urls import reverse

from recommendations import tasks
from recommendations.catalog import CatalogAdapter
from recommendations.models import Click, Impression
from recommendations.prefetch import entries
from recommendations.tracking import clicks, events
from recommendations.tracking.pseudonyms import pseudonym
from tests.app.shop.models import Product
from tests.support.event_delivery import deliver_events, queued_messages, unreachable_broker
from tests.support.model_server import REPO_ROOT, free_port
from tests.support.tracking import OFFLINE_TRACKED, impression_event, tracking_with

pytestmark = pytest.mark.django_db

CATALOG = "tests.app.shop.catalog.ShopCatalog"
# No endpoint is reachable: a closed port, so a miss falls back at once.
TRACKED = {**OFFLINE_TRACKED, "CATALOG": CATALOG}
WIDGET = re.compile(r'<section class="recommendations".*?</section>', re.S)
LINK = re.compile(
    r'<li class="card recommendation" data-item-id="([^"]+)".*?<a href="([^"]+)"', re.S
)


@pytest.fixture(autouse=True)
def tracked():
    queued_messages()  # batches other tests' processes handed off are not this test's
    with tracking_with(TRACKED):
        yield


def widget_links(response) -> list[tuple[str, str]]:
    """(item id, href) of every item of the page's widget, in order."""
    assert response.status_code == 200
    match = WIDGET.search(response.content.decode())
    assert match, "no widget on the page"
    return [(item, unescape(href)) for item, href in LINK.findall(match.group(0))]


def flush() -> int:
    """Hand the buffer to the broker and run its messages as a worker would: events inserted."""
    events.hand_off_buffered()
    return deliver_events()


def test_each_rendered_widget_records_one_impression_with_a_pseudonym(client, shop):
    _, users = shop
    user = users[0]
    entries.write_entry(user.pk, [str(pk) for pk in range(20, 40)], "v7", "AllTraffic")
    client.force_login(user)
    first = widget_links(client.get(reverse("home")))
    widget_links(client.get(reverse("home")))
    assert Impression.objects.count() == 0, "nothing is written on the page path"

    assert flush() == 2
    impressions = list(Impression.objects.order_by("created_at"))
    assert len(impressions) == 2
    impression = impressions[0]
    assert impression.pseudonym == pseudonym(user.pk)
    assert str(user.pk) not in impression.pseudonym
    assert (impression.arm, impression.source) == ("model", "model")
    assert (impression.model_version, impression.variant) == ("v7", "AllTraffic")
    assert impression.fallback_reason == ""
    assert [entry["item_id"] for entry in impression.items] == [item for item, _ in first]
    assert [entry["position"] for entry in impression.items] == list(range(1, 9))


def test_a_fallback_impression_records_its_reason(client, shop):
    client.get(reverse("home"))  # anonymous: the fallback, for a reason
    flush()
    impression = Impression.objects.get()
    assert (impression.arm, impression.source) == ("anonymous", "fallback")
    assert impression.fallback_reason == "anonymous"
    assert impression.pseudonym == ""


def test_fragment_and_json_api_record_impressions_and_give_click_links(client, shop):
    _, users = shop
    client.force_login(users[1])
    client.get(reverse("recommendations:widget"))
    payload = client.get(reverse("recommendations:api"), {"limit": 3}).json()
    assert all(item["click_url"].startswith("/recommendations/click/") for item in payload["items"])
    assert flush() == 2
    assert Impression.objects.count() == 2


def test_a_click_through_the_signed_redirect_is_counted_and_lands_on_the_product(client, shop):
    _, users = shop
    user = users[2]
    entries.write_entry(user.pk, [str(pk) for pk in range(20, 40)], "v7")
    client.force_login(user)
    links = widget_links(client.get(reverse("home")))
    item_id, href = links[2]
    assert href.startswith("/recommendations/click/")

    response = client.get(href)

    assert response.status_code == 302
    assert response["Location"] == Product.objects.get(pk=int(item_id)).get_absolute_url()
    assert "no-cache" in response["Cache-Control"]
    flush()
    click = Click.objects.get()
    impression = Impression.objects.get()
    assert click.impression_request_id == impression.request_id
    assert (click.item_id, click.position) == (item_id, 3)
    assert (click.arm, click.source) == ("model", "model")
    assert click.pseudonym == pseudonym(user.pk)


def test_clicking_the_same_item_twice_counts_once(client, shop):
    _, users = shop
    client.force_login(users[3])
    links = widget_links(client.get(reverse("home")))
    client.get(links[0][1])
    client.get(links[0][1])
    client.get(links[1][1])
    flush()
    assert Click.objects.count() == 2


def stamp(*item_ids: str) -> clicks.ImpressionStamp:
    return clicks.ImpressionStamp("a" * 32, "model", "model", "", item_ids or ("5",))


def click_path(token: str, position: int = 1) -> str:
    return reverse("recommendations:click", kwargs={"token": token, "position": position})


def test_a_link_changed_to_another_position_can_only_pick_an_item_that_was_shown(client, shop):
    token = clicks.sign(stamp("5", "6"))
    assert (
        client.get(click_path(token, 2))["Location"] == Product.objects.get(pk=6).get_absolute_url()
    )
    assert client.get(click_path(token, 3)).status_code == 400
    assert client.get(click_path(token, 0)).status_code == 400


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature changed
        lambda token: token.replace(
            token.split(":")[0], clicks.sign(stamp("7")).split(":")[0]
        ),  # another payload under this signature
        lambda token: "not-a-token",
        lambda token: clicks._signer().sign("bm90IGpzb24"),  # signed, but not our payload
        lambda token: signing.dumps(["b" * 32, "model", "model", "", ["5"]], salt="other"),
        lambda token: signing.dumps(["b" * 32, "model", "model", "", ["5"]]),  # no salt
    ],
)
def test_a_tampered_token_is_refused_and_not_counted(client, shop, tamper):
    response = client.get(click_path(tamper(clicks.sign(stamp()))))
    assert response.status_code == 400
    assert "Location" not in response
    flush()
    assert Click.objects.count() == 0


def test_an_expired_token_leads_to_the_product_but_is_not_counted(client, shop, monkeypatch):
    real_time = time.time
    three_days_ago = real_time() - 3 * 24 * 3600
    monkeypatch.setattr(signing.time, "time", lambda: three_days_ago)
    token = clicks.sign(stamp("5"))
    monkeypatch.setattr(signing.time, "time", real_time)

    response = client.get(click_path(token))

    assert response.status_code == 302
    assert response["Location"] == Product.objects.get(pk=5).get_absolute_url()
    assert response["X-Click-Counted"] == "0"
    flush()
    assert Click.objects.count() == 0


def test_an_unknown_product_leads_home_and_is_not_counted(client, shop):
    response = client.get(click_path(clicks.sign(stamp("99999"))))
    assert response.status_code == 302
    assert response["Location"] == "/"
    flush()
    assert Click.objects.count() == 0


class OffSiteCatalog(CatalogAdapter):
    """A catalog whose product URLs point to other sites (a misconfigured or hostile adapter)."""

    urls = ["https://evil.example/p/5", "//evil.example/p/5", "javascript:alert(1)"]

    def get_product_model(self):
        return Product

    def describe(self, product):
        return {"name": product.name, "url": self.urls[0], "price": None, "image_url": None}


@pytest.mark.parametrize("url", OffSiteCatalog.urls)
def test_a_product_url_off_this_site_never_redirects_off_site(client, shop, monkeypatch, url):
    monkeypatch.setattr(OffSiteCatalog, "urls", [url])
    with override_settings(RECOMMENDATIONS={**TRACKED, "CATALOG": f"{__name__}.OffSiteCatalog"}):
        response = client.get(click_path(clicks.sign(stamp("5"))))
    assert response.status_code == 302
    assert response["Location"] == "/"
    flush()
    assert Click.objects.count() == 0


def test_with_tracking_off_links_go_straight_to_products_and_nothing_is_recorded(client, shop):
    _, users = shop
    with override_settings(RECOMMENDATIONS={**TRACKED, "TRACKING": False}):
        client.force_login(users[4])
        links = widget_links(client.get(reverse("home")))
    assert all(href.startswith("/products/") for _, href in links)
    assert len(events.buffer()) == 0
    assert flush() == 0


def wait_for_hand_off(left: int = 0) -> None:
    """Until the process's hand-off thread has sent all but `left` buffered events."""
    deadline = time.monotonic() + 10  # generous: the thread is due at once, or after 0.2 s
    while len(events.buffer()) > left and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(events.buffer()) == left
    with events.buffer()._hand_off_lock:
        pass  # the batches taken off the buffer are sent once the thread lets go of this


def test_a_full_batch_is_handed_to_a_worker_at_once():
    with override_settings(RECOMMENDATIONS={**TRACKED, "EVENT_BATCH_SIZE": 3}):
        for number in range(2):
            events.record(impression_event(number))
        assert len(events.buffer()) == 2
        events.record(impression_event(2))
        events.record(impression_event(3))
        # Long before EVENT_FLUSH_INTERVAL (60 s here); the fourth event waits for a batch.
        wait_for_hand_off(left=1)
        assert deliver_events() == 3
    assert Impression.objects.count() == 3


def test_the_page_that_fills_a_batch_never_talks_to_the_broker(monkeypatch):
    senders = []
    send = events.hand_off

    def watched_hand_off(batch):
        senders.append(threading.current_thread().name)
        send(batch)

    monkeypatch.setattr(events, "hand_off", watched_hand_off)
    with override_settings(RECOMMENDATIONS={**TRACKED, "EVENT_BATCH_SIZE": 2}):
        events.record(impression_event(1))
        events.record(impression_event(2))
        wait_for_hand_off()
    assert senders == ["recommendations-events"]  # the process's thread, not the page's
    assert deliver_events() == 2


def test_a_quiet_process_hands_off_its_events_within_the_flush_interval():
    with override_settings(RECOMMENDATIONS={**TRACKED, "EVENT_FLUSH_INTERVAL": 0.2}):
        events.record(impression_event(1))
        wait_for_hand_off()
        assert deliver_events() == 1


def test_while_the_broker_is_down_the_buffer_is_bounded_and_drops_are_counted():
    settings = {**TRACKED, "EVENT_BATCH_SIZE": 2, "EVENT_BUFFER_MAX": 5}
    with override_settings(RECOMMENDATIONS=settings), unreachable_broker(free_port()):
        recorded = [events.record(impression_event(number)) for number in range(8)]
        assert recorded[:5] == [True] * 5
        # Serialized with the thread's own attempt: after it, no batch is on its way.
        assert events.hand_off_buffered() == 0
        assert len(events.buffer()) == 5
        assert events.dropped_in_process() == 3
    # The broker is back: the five kept events arrive, and the drops are counted for everyone.
    with override_settings(RECOMMENDATIONS=settings):
        events.hand_off_buffered()  # (or the process's thread, woken by the full batch, did)
        assert len(events.buffer()) == 0
        assert events.dropped_total() == 3
        assert deliver_events() == 5
    # Which five depends on when the thread's attempts failed: a batch put back after newer
    # events filled the buffer is the part that no longer fits.
    assert Impression.objects.count() == 5


def unreachable_cache() -> dict:
    port = free_port()  # nothing listens there
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.05, "socket_timeout": 0.1},
        }
    }


def test_a_page_renders_its_widget_while_the_cache_is_down(client, shop):
    _, users = shop
    with override_settings(CACHES=unreachable_cache()):
        client.force_login(users[5])
        links = widget_links(client.get(reverse("home")))
    assert len(links) == 8
    assert len(events.buffer()) == 1


def test_a_batch_delivered_twice_inserts_nothing_twice():
    for number in range(4):
        events.record(impression_event(number))
    events.hand_off_buffered()
    [(args, kwargs)] = queued_messages()
    # As if a worker had died after its insert, before it acknowledged the message.
    assert tasks.record_events.apply(args=args, kwargs=kwargs, throw=True).get() == 4
    tasks.record_events.apply(args=args, kwargs=kwargs, throw=True).get()
    assert Impression.objects.count() == 4


def test_a_batch_waits_while_another_worker_inserts(monkeypatch):
    from recommendations.cache.access import get_cache

    # Stands for a database that does not order inserts itself: the cache lock does.
    monkeypatch.setattr(events, "database_orders_inserts", lambda: False)

    # Another worker's insert holds the lock: this batch inserts nothing until it is released.
    get_cache().add(events.INSERT_LOCK_KEY, "another-worker", events.INSERT_LOCK_SECONDS)
    with pytest.raises(events.InsertBusy):
        events.insert_batch([impression_event(1)])
    assert Impression.objects.count() == 0
    get_cache().delete(events.INSERT_LOCK_KEY)
    assert events.insert_batch([impression_event(1)]).impressions == 1
    assert get_cache().get(events.INSERT_LOCK_KEY) is None  # released after its own insert


def test_a_process_exiting_just_after_a_broker_failure_still_hands_off_its_events():
    for number in range(3):
        events.record(impression_event(number))
    with unreachable_broker(free_port()):
        assert events.hand_off_buffered() == 0
    events._hand_off_at_exit()
    assert len(events.buffer()) == 0
    assert deliver_events() == 3


def test_write_buffered_inserts_this_processs_events_without_a_worker():
    for number in range(3):
        events.record(impression_event(number))
    assert events.write_buffered().impressions == 3
    assert len(events.buffer()) == 0
    assert queued_messages() == []
    assert Impression.objects.count() == 3


CRASHING_PROCESS = """
import json, os, signal, time
import django
django.setup()
from celery import current_app
from django.test import override_settings
from recommendations.tracking import events

config = json.loads(os.environ["CRASH_CONFIG"])
current_app.conf.broker_url = config["broker"]
current_app.conf.task_routes = {events.RECORD_EVENTS_TASK: {"queue": config["queue"]}}
with override_settings(RECOMMENDATIONS=config["recommendations"]):
    for number in range(config["events"]):
        events.record({
            "kind": "impression", "request_id": f"{number:032x}", "pseudonym": "p",
            "arm": "model", "source": "model", "model_version": "", "variant": "",
            "fallback_reason": "", "items": [], "created_at": time.time(),
        })
    # The thread sends each full batch at once; the crash comes after it did.
    deadline = time.monotonic() + 30
    while len(events.buffer()) >= config["batch"] and time.monotonic() < deadline:
        time.sleep(0.01)
    with events.buffer()._hand_off_lock:
        pass  # and the batches it took off the buffer are sent
    os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no hand-off: a crash
"""


@pytest.mark.redis
def test_a_killed_web_process_loses_only_what_its_buffer_held(redis_url):
    """The documented bound: a crash loses what the process still held, under EVENT_BATCH_SIZE."""
    batch_size, recorded = 100, 250
    queue = f"test-crash-{uuid.uuid4().hex}"  # this test's messages only, in a Redis others share
    settings = {**TRACKED, "EVENT_BATCH_SIZE": batch_size}
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_PROCESS],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "CRASH_CONFIG": json.dumps(
                {
                    "broker": redis_url,
                    "queue": queue,
                    "recommendations": settings,
                    "events": recorded,
                    "batch": batch_size,
                }
            ),
        },
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    try:
        inserted = deliver_events(redis_url, queue)
    finally:
        import redis

        redis.Redis.from_url(redis_url).delete(queue)
    lost = recorded - inserted
    assert inserted == Impression.objects.count() == 200
    assert 0 <= lost < batch_size
