"""Security and privacy: nobody sees another customer's recommendations, only pseudonyms leave the
premises, AWS credentials show up nowhere, and the app's views are read-only.

Escaping of hostile product names and refusing `user`/`user_id` on the JSON API are in
tests/app/test_views.py; the probe command's output is searched for secrets in
tests/app/test_recommendations_check.py.
"""

import json
import logging
import os
import re
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.template import engines
from django.test import RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views.debug import technical_500_response

from recommendations.backends import get_backend
from recommendations.backends.base import PredictionRequest
from recommendations.exceptions import EndpointError
from recommendations.prefetch import entries
from recommendations.prefetch.users import prefetch_users
from recommendations.tracking.pseudonyms import pseudonym
from tests.app.shop.checkout import place_order
from tests.support.scripted_endpoint import (  # noqa: F401 (fixture "scripted_endpoint")
    app_pointed_at,
    aws_error,
    model_answer,
    ok,
    scripted_endpoint_fixture,
)

pytestmark = pytest.mark.django_db

SECRET = os.environ["AWS_SECRET_ACCESS_KEY"]
ACCESS_KEY_ID = os.environ["AWS_ACCESS_KEY_ID"]
ITEM = re.compile(r'data-item-id="([^"]+)"')
CATALOG = "tests.app.shop.catalog.ShopCatalog"
# No endpoint is reachable: a closed port, so a miss falls back at once.
OFFLINE = {"ENDPOINT_NAME": "offline", "ENDPOINT_URL": "http://127.0.0.1:9", "CATALOG": CATALOG}


@pytest.fixture
def endpoint(scripted_endpoint, monkeypatch):
    """The app pointed at a scripted SageMaker-shaped server that records every byte it gets."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with app_pointed_at(
        scripted_endpoint, ENDPOINT_NAME="shop-recommender", REGION="eu-west-1", CATALOG=CATALOG
    ):
        yield scripted_endpoint


def widget_items(html: str) -> list[str]:
    return ITEM.findall(html.split('<section class="recommendations"', 1)[1].split("</section>")[0])


# -- nobody sees another customer's recommendations ------------------------------------------


def test_home_page_shows_only_the_logged_in_customers_entry(client, shop):
    _, users = shop
    alice, bob = users[0], users[1]
    entries.write_entry(alice.pk, [str(pk) for pk in range(1, 17)], "v1")
    entries.write_entry(bob.pk, [str(pk) for pk in range(31, 47)], "v1")
    client.force_login(alice)
    with override_settings(RECOMMENDATIONS=OFFLINE):
        html = client.get(reverse("home")).content.decode()
        fragment = client.get(reverse("recommendations:widget")).content.decode()
    assert widget_items(html) == [str(pk) for pk in range(1, 9)]
    assert widget_items(fragment) == [str(pk) for pk in range(1, 9)]


@pytest.mark.parametrize("parameter", ["user", "user_id", "uid", "customer", "customer_id"])
def test_the_fragment_refuses_a_user_named_in_the_query(client, shop, parameter):
    _, users = shop
    entries.write_entry(users[1].pk, ["31", "32", "33"], "v-other")
    client.force_login(users[0])
    with override_settings(RECOMMENDATIONS=OFFLINE):
        response = client.get(reverse("recommendations:widget"), {parameter: users[1].pk})
    assert response.status_code == 400
    assert 'data-item-id="31"' not in response.content.decode()


def test_an_anonymous_visitor_cannot_name_a_customer_either(client, shop):
    _, users = shop
    entries.write_entry(users[1].pk, ["31", "32", "33"], "v-other")
    with override_settings(RECOMMENDATIONS=OFFLINE):
        for name in ("recommendations:api", "recommendations:widget"):
            response = client.get(reverse(name), {"user_id": users[1].pk})
            assert response.status_code == 400


def test_the_tag_uses_the_request_user_not_a_user_in_the_context(rf: RequestFactory, shop):
    _, users = shop
    alice, bob = users[0], users[1]
    entries.write_entry(alice.pk, [str(pk) for pk in range(1, 17)], "v1")
    entries.write_entry(bob.pk, [str(pk) for pk in range(31, 47)], "v1")
    request = rf.get("/")
    request.user = alice
    request.session = SessionStore()  # the shop's cart context processor reads it
    template = engines["django"].from_string(
        "{% load recommendations %}{% recommended_for_you limit=4 %}"
        "{% get_recommendations limit=4 as recs %}{% for item in recs %}[{{ item.item_id }}]"
        "{% endfor %}"
    )
    with override_settings(RECOMMENDATIONS=OFFLINE):
        # A template that happens to hold another user (a profile page, an admin view).
        html = template.render({"user": bob, "customer": bob}, request)
    assert widget_items(html) == ["1", "2", "3", "4"]
    assert "[1][2][3][4]" in html
    assert 'data-item-id="31"' not in html
    assert "[31]" not in html


# -- what leaves the premises is pseudonymous ------------------------------------------------


@pytest.fixture
def alice():
    """A customer whose personal data is easy to spot in bytes on the wire."""
    return get_user_model().objects.create_user(
        pk=7654321,
        username="alice.liddell",
        email="alice.liddell@wonderland.example",
        first_name="Alice",
        last_name="Liddell",
        password="pw",
    )


def assert_only_pseudonyms_left(received, user) -> None:
    assert received, "nothing reached the endpoint"
    for request in received:
        wire = (request.raw_head + b"\r\n" + request.body).decode("latin-1").lower()
        for personal in (
            user.email,
            user.email.split("@")[0],
            user.username,
            user.first_name,
            user.last_name,
            str(user.pk),
        ):
            assert personal.lower() not in wire, f"{personal!r} left the premises"
        assert pseudonym(user.pk) in request.body.decode()


def test_page_view_sends_only_a_pseudonym(client, endpoint, shop, alice):
    endpoint.script(ok(model_answer(*[str(pk) for pk in range(1, 17)])))
    place_order(alice, {5: 1})  # so the request carries exclusions too
    client.force_login(alice)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert 'data-source="model"' in response.content.decode()
    assert_only_pseudonyms_left(endpoint.received, alice)
    body = json.loads(endpoint.received[-1].body)
    assert body["user_id"] == pseudonym(alice.pk)
    assert body["exclude"] == ["5"]


def test_prefetch_sends_only_a_pseudonym(endpoint, shop, alice):
    endpoint.script(ok(model_answer("1", "2", "3")))
    prefetch_users([alice.pk])
    assert_only_pseudonyms_left(endpoint.received, alice)


def test_the_pseudonym_is_a_keyed_hash_that_rotates_with_its_key(alice):
    with override_settings(RECOMMENDATIONS={"PSEUDONYM_KEY": "key-one"}):
        first = pseudonym(alice.pk)
        assert pseudonym(alice.pk) == first  # stable
    with override_settings(RECOMMENDATIONS={"PSEUDONYM_KEY": "key-two"}):
        rotated = pseudonym(alice.pk)
    assert rotated != first
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert str(alice.pk) not in first


# -- AWS credentials show up nowhere ---------------------------------------------------------


def test_diffsettings_never_shows_the_aws_credentials():
    for options in ((), ("--all",), ("--output", "unified")):
        out = StringIO()
        call_command("diffsettings", *options, stdout=out)
        assert SECRET not in out.getvalue()
        assert ACCESS_KEY_ID not in out.getvalue()


def test_logs_of_a_failing_call_never_hold_the_secret(client, endpoint, shop, caplog):
    _, users = shop
    endpoint.script(aws_error(403, "UnrecognizedClientException", "The security token is invalid."))
    client.force_login(users[0])
    # Every logger at DEBUG, botocore's and urllib3's included: they log the signed request.
    with caplog.at_level(logging.DEBUG):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    assert any(
        r.levelno == logging.WARNING and r.name.startswith("recommendations")
        for r in caplog.records
    )
    assert SECRET not in caplog.text
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    # The app's own lines do not even name the access key id.
    app_lines = [r.getMessage() for r in caplog.records if r.name.startswith("recommendations")]
    assert all(ACCESS_KEY_ID not in line for line in app_lines)


def test_the_debug_error_page_of_a_failed_call_never_shows_the_secret(endpoint, rf):
    endpoint.script(aws_error(400, "ValidationError", "Endpoint x of account 1 not found."))
    # runserver copies the process environment into the WSGI environ, credentials included.
    request = rf.get("/", AWS_SECRET_ACCESS_KEY=SECRET, AWS_ACCESS_KEY_ID=ACCESS_KEY_ID)
    try:
        get_backend().recommend(PredictionRequest(user_key="someone", num_results=3))
    except EndpointError:
        # What DEBUG=True would render if this error ever escaped a view, botocore frames and all.
        with override_settings(DEBUG=True):
            page = technical_500_response(request, *sys.exc_info())
    else:
        pytest.fail("the scripted error did not raise")
    html = page.content.decode()
    assert "EndpointNotFound" in html
    assert "botocore" in html  # the cause's frames, with their local variables, are on the page
    assert SECRET not in html


# -- the app's views are read-only -----------------------------------------------------------


@pytest.mark.parametrize("name", ["recommendations:api", "recommendations:widget"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_api_and_the_fragment_are_get_only(client, shop, name, method):
    _, users = shop
    client.force_login(users[0])
    response = getattr(client, method)(reverse(name), {"user_id": users[1].pk})
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def _views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_no_view_of_the_shop_or_the_app_skips_csrf_protection():
    exempt = [
        route
        for route, view in _views(get_resolver().url_patterns)
        if getattr(view, "csrf_exempt", False)
    ]
    assert exempt == []
