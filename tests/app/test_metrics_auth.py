"""/metrics behind a reverse proxy: every request comes from the proxy's address, so a bearer token
(METRICS_TOKEN) protects it, and a deploy check warns while addresses alone open it."""

import hmac

import pytest
from django.core.checks import run_checks
from django.test import override_settings
from django.urls import reverse
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from recommendations import metrics_view as metrics_view_module
from recommendations.checks.security import check_metrics_access

pytestmark = pytest.mark.django_db

TOKEN = "mT4s8Qw2Lp9Zx3Vb7Nc1Rk6Hy5Jd0Fg2"
GOOD = {
    "ENDPOINT_NAME": "shop-recommender",
    "PRODUCT_MODEL": "shop.Product",
    "CATALOG": "tests.app.shop.catalog.ShopCatalog",
}
# What every request looks like behind nginx on the same host: REMOTE_ADDR is the proxy's.
BEHIND_PROXY = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
TOKEN_ONLY = {**GOOD, "METRICS_TOKEN": TOKEN, "METRICS_ALLOWED_IPS": []}


def get(client, **headers):
    return client.get(reverse("recommendations:metrics"), **BEHIND_PROXY, **headers)


@override_settings(RECOMMENDATIONS=TOKEN_ONLY)
def test_with_a_token_the_proxys_address_alone_no_longer_opens_metrics(client):
    assert get(client).status_code == 403


@override_settings(RECOMMENDATIONS=TOKEN_ONLY)
def test_the_right_bearer_token_opens_metrics(client):
    response = get(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b"recommendations_widget_renders_total" in response.content
    assert get(client, HTTP_AUTHORIZATION=f"bearer {TOKEN}").status_code == 200  # RFC 7235


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer ",
        "Bearer",
        "Bearer t\u00f6ken\u00e9",  # not ASCII: compared as bytes, refused, never a 500
    ],
)
@override_settings(RECOMMENDATIONS=TOKEN_ONLY)
def test_a_wrong_or_malformed_token_is_refused(client, authorization):
    assert get(client, HTTP_AUTHORIZATION=authorization).status_code == 403


@override_settings(RECOMMENDATIONS=TOKEN_ONLY)
def test_a_token_in_the_query_string_is_not_accepted(client):
    url = reverse("recommendations:metrics") + f"?token={TOKEN}"
    assert client.get(url, **BEHIND_PROXY).status_code == 403


@override_settings(RECOMMENDATIONS={**GOOD, "METRICS_TOKEN": "", "METRICS_ALLOWED_IPS": []})
def test_an_empty_token_setting_never_matches_an_empty_bearer(client):
    assert get(client, HTTP_AUTHORIZATION="Bearer ").status_code == 403


@override_settings(RECOMMENDATIONS=TOKEN_ONLY)
def test_the_token_is_compared_in_constant_time(client, monkeypatch):
    compared = []
    compare_digest = hmac.compare_digest

    def spy(a, b):  # stands for hmac.compare_digest, which it calls: only records the call
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(metrics_view_module.hmac, "compare_digest", spy)
    assert get(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert compared == [(TOKEN.encode(), TOKEN.encode())]


@override_settings(RECOMMENDATIONS=TOKEN_ONLY)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(authorization=st.text(alphabet=st.characters(max_codepoint=255), max_size=80))
def test_any_authorization_header_but_the_token_is_refused_never_a_500(client, authorization):
    # Latin-1: what a WSGI server hands over for any header bytes.
    assume(TOKEN not in authorization)
    assert get(client, HTTP_AUTHORIZATION=authorization).status_code == 403


def check_ids(debug: bool = False, **overrides) -> list[str]:
    with override_settings(DEBUG=debug, RECOMMENDATIONS={**GOOD, **overrides}):
        return [message.id for message in check_metrics_access()]


def test_addresses_alone_protecting_metrics_is_a_warning():
    assert check_ids() == ["recommendations.W102"]  # default: loopback, no token
    assert check_ids(METRICS_TOKEN=TOKEN) == ["recommendations.W102"]  # addresses bypass it


def test_a_token_and_no_addresses_passes():
    assert check_ids(METRICS_TOKEN=TOKEN, METRICS_ALLOWED_IPS=[]) == []
    assert check_ids(METRICS_ALLOWED_IPS=[]) == []  # staff only


@pytest.mark.parametrize("token", ["short", 12345])
def test_a_weak_or_mistyped_token_is_an_error_outside_debug(token):
    assert check_ids(METRICS_TOKEN=token, METRICS_ALLOWED_IPS=[]) == ["recommendations.E104"]


def test_the_address_warning_is_a_deploy_check():
    with override_settings(RECOMMENDATIONS=GOOD):
        everyday = {message.id for message in run_checks()}
        deploy = {message.id for message in run_checks(include_deployment_checks=True)}
    assert "recommendations.W102" not in everyday
    assert "recommendations.W102" in deploy
