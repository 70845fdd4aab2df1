"""Impressions and clicks: recorded per rendered widget, counted through the signed redirect, moved
into the database in bulk, and never costing the page (bounded buffer, dropped events counted)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from html import unescape

import pytest
from django.core import signing
from django.test import override_settings
from django.urls import reverse

from demo_shop.catalog.models import Product
from recommendations.catalog import CatalogAdapter
from recommendations.models import Click, Impression
from recommendations.prefetch import entries as prefetched
from recommendations.tracking import clicks, events
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.model_server import REPO_ROOT, free_port
from tests.support.shop_data import make_shop
from tests.support.tracking import OFFLINE_TRACKED, tracking_with

pytestmark = pytest.mark.django_db

CATALOG = "demo_shop.catalog.recommendations.DemoCatalog"
# No endpoint is reachable: a closed port, so a miss falls back at once.
TRACKED = {**OFFLINE_TRACKED, "CATALOG": CATALOG}
WIDGET = re.compile(r'<section class="recommendations".*?</section>', re.S)
LINK = re.compile(
    r'<li class="card recommendation" data-item-id="([^"]+)".*?<a href="([^"]+)"', re.S
)


@pytest.fixture(autouse=True)
def tracked():
    with tracking_with(TRACKED):
        yield


@pytest.fixture
def shop():
    return make_shop()


def widget_links(response) -> list[tuple[str, str]]:
    """(item id, href) of every item of the page's widget, in order."""
    assert response.status_code == 200
    match = WIDGET.search(response.content.decode())
    assert match, "no widget on the page"
    return [(item, unescape(href)) for item, href in LINK.findall(match.group(0))]


def flush() -> events.FlushResult:
    events.hand_off_buffered()
    return events.flush_to_database()


def test_each_rendered_widget_records_one_impression_with_a_pseudonym(client, shop):
    _, users = shop
    user = users[0]
    prefetched.write_entry(user.pk, [str(pk) for pk in range(20, 40)], "v7", "AllTraffic")
    client.force_login(user)
    first = widget_links(client.get(reverse("home")))
    widget_links(client.get(reverse("home")))
    assert Impression.objects.count() == 0, "nothing is written on the page path"

    result = flush()

    assert result.impressions == 2
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
    assert flush().impressions == 2


def test_a_click_through_the_signed_redirect_is_counted_and_lands_on_the_product(client, shop):
    _, users = shop
    user = users[2]
    prefetched.write_entry(user.pk, [str(pk) for pk in range(20, 40)], "v7")
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
    assert flush().impressions == 0


def impression(number: int) -> dict:
    return {
        "kind": events.IMPRESSION,
        "request_id": f"{number:032x}",
        "pseudonym": "p",
        "arm": "model",
        "source": "model",
        "model_version": "",
        "variant": "",
        "fallback_reason": "",
        "items": [],
        "created_at": time.time(),
    }


def test_the_request_that_fills_a_batch_hands_it_to_the_cache():
    with override_settings(RECOMMENDATIONS={**TRACKED, "EVENT_BATCH_SIZE": 3}):
        for number in range(2):
            events.record(impression(number))
        assert len(events.buffer()) == 2
        events.record(impression(2))
        assert len(events.buffer()) == 0
        assert events.flush_to_database().impressions == 3


def test_a_quiet_process_hands_off_its_events_within_the_flush_interval():
    with override_settings(RECOMMENDATIONS={**TRACKED, "EVENT_FLUSH_INTERVAL": 0.2}):
        events.record(impression(1))
        deadline = time.monotonic() + 10  # generous: the thread is due after 0.2 s
        while len(events.buffer()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(events.buffer()) == 0
        assert events.flush_to_database().impressions == 1


def unreachable_cache() -> dict:
    port = free_port()  # nothing listens there
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.05, "socket_timeout": 0.1},
        }
    }


def test_while_the_cache_is_down_the_buffer_is_bounded_and_drops_are_counted():
    settings = {**TRACKED, "EVENT_BATCH_SIZE": 2, "EVENT_BUFFER_MAX": 5}
    with override_settings(RECOMMENDATIONS=settings, CACHES=unreachable_cache()):
        recorded = [events.record(impression(number)) for number in range(8)]
        assert recorded == [True] * 5 + [False] * 3
        assert len(events.buffer()) == 5
        assert events.dropped_in_process() == 3
    # The cache is back: the five kept events arrive, and the drops are counted for everyone.
    with override_settings(RECOMMENDATIONS=settings):
        assert events.hand_off_buffered() == 5
        assert events.dropped_total() == 3
        result = events.flush_to_database()
    assert result.impressions == 5
    assert sorted(Impression.objects.values_list("request_id", flat=True)) == [
        f"{n:032x}" for n in range(5)
    ]


def test_a_page_renders_its_widget_while_the_cache_is_down(client, shop):
    _, users = shop
    with override_settings(CACHES=unreachable_cache()):
        client.force_login(users[5])
        links = widget_links(client.get(reverse("home")))
    assert len(links) == 8
    assert len(events.buffer()) == 1


def test_a_flush_run_again_inserts_nothing_twice():
    for number in range(4):
        events.record(impression(number))
    events.hand_off_buffered()
    first = events.flush_to_database()
    # As if the first flush had died after its insert, before it marked the slots done.
    from recommendations.cache.access import get_cache

    bucket = events.bucket_of(time.time())
    get_cache().delete(events._done_key(bucket))
    events.flush_to_database()
    assert first.impressions == 4
    assert Impression.objects.count() == 4


def test_an_empty_young_slot_delays_nothing_and_is_counted_lost_once_old():
    from recommendations.cache.access import get_cache

    cache = get_cache().strict
    now = time.time()
    bucket = events.bucket_of(now)
    # Slot 1 is claimed but not written (a hand-off on its way, or one that died); slot 2 is.
    cache.add(events._counter_key(bucket), 0, None)
    cache.incr(events._counter_key(bucket))
    events.hand_off([impression(1)], now=now)

    young = events.flush_to_database(now=now)
    assert (young.batches, young.lost_batches, young.impressions) == (1, 0, 1)
    assert events.flush_to_database(now=now).impressions == 1, "read again: slot 1 may come"
    assert Impression.objects.count() == 1

    later = events.flush_to_database(now=now + events.IN_FLIGHT_SECONDS + 1)
    assert (later.batches, later.lost_batches) == (1, 1)
    assert events.lost_batches_total() == 1
    assert events.flush_to_database(now=now + events.IN_FLIGHT_SECONDS + 2).batches == 0
    assert Impression.objects.count() == 1


def test_a_slot_written_late_is_still_flushed():
    from recommendations.cache.access import get_cache

    cache = get_cache().strict
    now = time.time()
    bucket = events.bucket_of(now)
    cache.add(events._counter_key(bucket), 0, None)
    cache.incr(events._counter_key(bucket))  # slot 1 claimed ...
    events.hand_off([impression(2)], now=now)  # slot 2 written
    events.flush_to_database(now=now)
    cache.add(events._slot_key(bucket, 1), [impression(1)], None)  # ... and slot 1 written late
    result = events.flush_to_database(now=now + 1)
    assert result.lost_batches == 0
    assert Impression.objects.count() == 2


def test_a_process_exiting_just_after_a_cache_failure_still_hands_off_its_events():
    from recommendations.cache.access import get_cache

    for number in range(3):
        events.record(impression(number))
    # The cache failed a moment ago: ordinary calls skip it for CACHE_RETRY_INTERVAL.
    get_cache()._outage.failed("default", "get", TimeoutError())
    assert events.hand_off_buffered() == 0
    events._hand_off_at_exit()
    assert len(events.buffer()) == 0
    assert events.flush_to_database().impressions == 3


CRASHING_PROCESS = """
import json, os, signal, time
import django
django.setup()
from django.test import override_settings
from recommendations.tracking import events

config = json.loads(os.environ["CRASH_CONFIG"])
with override_settings(CACHES=config["caches"], RECOMMENDATIONS=config["recommendations"]):
    for number in range(config["events"]):
        events.record({
            "kind": "impression", "request_id": f"{number:032x}", "pseudonym": "p",
            "arm": "model", "source": "model", "model_version": "", "variant": "",
            "fallback_reason": "", "items": [], "created_at": time.time(),
        })
    os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no hand-off: a crash
"""


@pytest.mark.redis
def test_a_killed_web_process_loses_less_than_one_batch_of_events(redis_url):
    """The documented bound: a crash loses what the process still held, under EVENT_BATCH_SIZE."""
    batch_size, recorded = 100, 250
    prefix = f"test-crash-{uuid.uuid4().hex}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,  # this test's keys only, in a Redis others may share
        }
    }
    settings = {**TRACKED, "EVENT_BATCH_SIZE": batch_size}
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_PROCESS],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "CRASH_CONFIG": json.dumps(
                {"caches": caches, "recommendations": settings, "events": recorded}
            ),
        },
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    try:
        with override_settings(CACHES=caches, RECOMMENDATIONS=settings):
            result = events.flush_to_database()
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    lost = recorded - result.impressions
    assert result.impressions == Impression.objects.count() == 200
    assert 0 <= lost < batch_size
