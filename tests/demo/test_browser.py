"""End to end in a real browser: Debian's chromium driven by Playwright (no browser download).

A customer logs in, sees the widget with the model's recommendations, clicks one, lands on the
product page and the click is counted; with the endpoint down the widget still shows products.
A screenshot of the home page is saved under tests/demo/artifacts/ (ignored by git).
"""

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

from recommendations.models import Click, Impression
from recommendations.tracking import events
from tests.support.services import in_ci
from tests.support.shop_data import make_shop

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Flags that keep chromium off the network (this machine has none) and quiet as root in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = (
            "Debian's chromium is not installed (make test installs it: apt-get install chromium)"
        )
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def page(chromium):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous, one at a time, so Django's async guard can stand aside.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            yield context.new_page()
            browser.close()
            # While Playwright's event loop is about, Django keeps this thread's connections in
            # storage of their own: the one the test opened is only reachable from here. Left
            # open, it kept the test database from being dropped at the end of the session.
            connections.close_all()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def tracked_endpoint(use_shop_endpoint):
    return use_shop_endpoint(BUDGET_MS=500, TRACKING=True)


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def test_customer_sees_model_recommendations_clicks_one_and_the_click_counts(
    page, live_server, tracked_endpoint
):
    _, users = make_shop()
    log_in(page, live_server.url, users[0].username)

    widget = page.locator("section.recommendations")
    widget.wait_for()
    assert widget.get_attribute("data-source") == "model"
    cards = widget.locator("li.recommendation")
    assert cards.count() == 8
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)

    first = cards.first
    item_id = first.get_attribute("data-item-id")
    name = first.locator("a.name").inner_text()
    first.locator("a.name").click()
    page.wait_for_url(f"{live_server.url}/products/**")
    assert page.locator("h1").inner_text() == name
    assert page.locator("article.product").get_attribute("data-item-id") == item_id

    events.write_buffered()
    click = Click.objects.get(item_id=item_id)
    assert click.position == 1
    assert Impression.objects.filter(request_id=click.impression_request_id).exists()


def test_with_the_endpoint_down_the_widget_still_shows_products(
    page, live_server, tracked_endpoint
):
    _, users = make_shop()
    tracked_endpoint.set_fault("unavailable")
    log_in(page, live_server.url, users[1].username)
    widget = page.locator("section.recommendations")
    widget.wait_for()
    assert widget.get_attribute("data-source") == "fallback"
    assert widget.locator("li.recommendation").count() == 8
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home-endpoint-down.png"), full_page=True)


def test_staff_read_widget_against_no_widget_beside_model_against_fallback(page, live_server):
    # Ten control visits (two with a product view) and twenty widget visits (eight with one).
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from recommendations.models import EngagementEvent

    now = timezone.now()
    for n in range(20):
        Impression.objects.create(
            request_id=f"{n:032x}",
            pseudonym=f"w{n}",
            arm="model" if n % 2 else "holdout",
            source="fallback",
            created_at=now,
        )
    for n in range(10):
        EngagementEvent.objects.create(
            event_id=f"v{n:031x}", pseudonym=f"c{n}", arm="control", action="visit", created_at=now
        )
    for n, key in enumerate([f"w{n}" for n in range(8)] + ["c0", "c1"]):
        EngagementEvent.objects.create(
            event_id=f"p{n:031x}", pseudonym=key, arm="x", action="product_view", created_at=now
        )
    get_user_model().objects.create_superuser("boss", password="pw")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/recommendations/impression/report/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "pw")
    page.click("input[type=submit]")
    lift = page.locator('#engagement-lifts tr[data-action="product_view"] td.lift')
    lift.wait_for()
    assert lift.inner_text() == "+100.0% (-48.2% to +672.1%)"
    assert page.locator("h2", has_text="model vs holdout (model vs fallback)").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
