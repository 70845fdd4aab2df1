"""Click links are bound to whom the widget was shown: a click by anyone else still leads to the
product but is not counted and never becomes a training row; a link shown before a pseudonym key
change still counts for its viewer while the old key is a fallback."""

import base64
import json
import re
from html import unescape

import pytest
from django.test import override_settings
from django.urls import reverse

from recommendations.export.rows import click_rows
from recommendations.models import Click
from recommendations.prefetch import entries
from recommendations.tracking import clicks, events
from recommendations.tracking.pseudonyms import pseudonym
from tests.app.shop.models import Product
from tests.support.shop_data import make_shop
from tests.support.tracking import OFFLINE_TRACKED, tracking_with

pytestmark = pytest.mark.django_db

KEY_BEFORE = "k7Qx2L9pVd4mWz8RtY3nBc6HsJ1fGa5E"
KEY_AFTER = "Zq1Wx2Ec3Rv4Tb5Yn6Um7Ik8Ol9Pa0Sd"
# No endpoint is reachable: a closed port, so a miss falls back at once.
TRACKED = {**OFFLINE_TRACKED, "PSEUDONYM_KEY": KEY_BEFORE}
LINK = re.compile(r'<li class="card recommendation" data-item-id="[^"]+".*?<a href="([^"]+)"', re.S)


@pytest.fixture(autouse=True)
def tracked():
    with tracking_with(TRACKED):
        yield


@pytest.fixture
def users():
    _, users = make_shop()
    for user in users[:3]:
        entries.write_entry(user.pk, [str(pk) for pk in range(20, 40)], "v1")
    return users


def links_shown(client) -> list[str]:
    """The hrefs of the home page widget shown to whoever `client` is."""
    response = client.get(reverse("home"))
    assert response.status_code == 200
    hrefs = [unescape(href) for href in LINK.findall(response.content.decode())]
    assert hrefs and all(href.startswith("/recommendations/click/") for href in hrefs)
    return hrefs


def clicks_recorded() -> list[Click]:
    events.write_buffered()
    return list(Click.objects.all())


def follow(client, href: str):
    response = client.get(href)
    assert response.status_code == 302
    assert response["Location"].startswith("/products/")
    return response


def test_a_click_by_the_customer_it_was_shown_to_counts(client, users):
    client.force_login(users[0])
    response = follow(client, links_shown(client)[0])
    assert response["X-Click-Counted"] == "1"
    assert [click.pseudonym for click in clicks_recorded()] == [pseudonym(users[0].pk)]


def test_another_customer_following_the_link_is_led_to_the_product_but_not_counted(client, users):
    client.force_login(users[0])
    href = links_shown(client)[1]
    client.force_login(users[1])
    response = follow(client, href)
    assert response["X-Click-Counted"] == "0"
    assert clicks_recorded() == []
    assert list(click_rows(0, 100, 1.0)) == [], "no training row for anyone"


def test_an_anonymous_visitor_following_a_customers_link_is_not_counted(client, users):
    client.force_login(users[0])
    href = links_shown(client)[0]
    client.logout()
    assert follow(client, href)["X-Click-Counted"] == "0"
    assert clicks_recorded() == []


def test_a_customer_following_an_anonymous_visitors_link_is_not_counted(client, users):
    href = links_shown(client)[0]
    client.force_login(users[2])
    assert follow(client, href)["X-Click-Counted"] == "0"
    assert clicks_recorded() == []


def test_an_anonymous_click_on_an_anonymous_link_counts_but_never_trains(client, users):
    follow(client, links_shown(client)[0])
    (click,) = clicks_recorded()
    assert (click.pseudonym, click.arm) == ("", "anonymous")
    assert list(click_rows(0, 100, 1.0)) == []


def test_the_link_does_not_carry_the_viewers_pseudonym(client, users):
    client.force_login(users[0])
    token = links_shown(client)[0].split("/")[-3]
    payload = token.split(":")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert pseudonym(users[0].pk) not in decoded
    # The key as a whole field: the token's random hex ids may hold its digits by chance ("9001").
    fields = json.loads(decoded)
    values = [str(v) for f in fields for v in (f if isinstance(f, list) else [f])]
    assert str(users[0].pk) not in values


def test_a_link_shown_before_a_key_change_counts_while_the_old_key_is_a_fallback(client, users):
    client.force_login(users[0])
    href = links_shown(client)[0]
    rotating = {**TRACKED, "PSEUDONYM_KEY": KEY_AFTER, "PSEUDONYM_KEY_FALLBACKS": [KEY_BEFORE]}
    with override_settings(RECOMMENDATIONS=rotating):
        assert follow(client, href)["X-Click-Counted"] == "1"
        (click,) = clicks_recorded()
        # Recorded under the new key, so that it joins the new key's export.
        assert click.pseudonym == pseudonym(users[0].pk)
    assert click.pseudonym != pseudonym(users[0].pk)  # KEY_BEFORE again


def test_a_link_shown_before_a_key_change_is_not_counted_once_the_fallback_is_gone(client, users):
    client.force_login(users[0])
    href = links_shown(client)[0]
    with override_settings(RECOMMENDATIONS={**TRACKED, "PSEUDONYM_KEY": KEY_AFTER}):
        assert follow(client, href)["X-Click-Counted"] == "0"
    assert clicks_recorded() == []


def test_a_link_signed_before_clicks_were_bound_leads_to_the_product_uncounted(client, users):
    client.force_login(users[0])
    # The payload links carried before this change: no viewer at all.
    data = json.dumps(["a" * 32, "model", "model", "", ["5"]], separators=(",", ":")).encode()
    legacy = clicks._signer().sign(base64.urlsafe_b64encode(data).rstrip(b"=").decode())
    response = client.get(reverse("recommendations:click", args=[legacy, 1]))
    assert response.status_code == 302
    assert response["Location"] == Product.objects.get(pk=5).get_absolute_url()
    assert response["X-Click-Counted"] == "0"
    assert clicks_recorded() == []
