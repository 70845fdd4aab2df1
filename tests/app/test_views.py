"""The fragment and JSON views: current user only, private caching, validated input, escaped output."""

import json

import pytest
from django.test import override_settings
from django.urls import reverse

from recommendations.prefetch import entries
from tests.app.shop.models import Product

pytestmark = pytest.mark.django_db

# No endpoint is reachable in these tests: a closed port, so misses fall back at once.
OFFLINE = {
    "ENDPOINT_NAME": "offline",
    "ENDPOINT_URL": "http://127.0.0.1:9",
    "CATALOG": "tests.app.shop.catalog.ShopCatalog",
}


@pytest.fixture(autouse=True)
def offline_endpoint():
    with override_settings(RECOMMENDATIONS=OFFLINE):
        yield


def test_json_api_answers_for_the_logged_in_user(client, shop):
    _, users = shop
    entries.write_entry(users[0].pk, [str(pk) for pk in range(20, 40)], "v1")
    client.force_login(users[0])
    response = client.get(reverse("recommendations:api"), {"limit": 5})
    assert response.status_code == 200
    payload = response.json()
    assert [item["item_id"] for item in payload["items"]] == ["20", "21", "22", "23", "24"]
    assert payload["source"] == "model"
    assert payload["model_version"] == "v1"
    assert payload["items"][0]["url"] == Product.objects.get(pk=20).get_absolute_url()


def test_responses_are_private_and_vary_on_cookie(client, shop):
    for name in ("recommendations:api", "recommendations:widget"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert "private" in response["Cache-Control"]
        assert "Cookie" in response["Vary"]


@pytest.mark.parametrize("limit", ["0", "51", "-3", "ten", "2.5"])
def test_an_invalid_limit_is_a_400_with_a_json_error(client, shop, limit):
    for name in ("recommendations:api", "recommendations:widget"):
        response = client.get(reverse(name), {"limit": limit})
        assert response.status_code == 400
        assert "limit" in json.loads(response.content)["error"]


@pytest.mark.parametrize("parameter", ["user", "user_id"])
def test_another_users_id_in_the_query_is_refused(client, shop, parameter):
    _, users = shop
    entries.write_entry(users[1].pk, ["31", "32", "33"], "v-other")
    client.force_login(users[0])
    response = client.get(reverse("recommendations:api"), {parameter: users[1].pk})
    assert response.status_code == 400
    assert "31" not in response.content.decode()


def test_a_body_cannot_name_another_user_the_views_are_get_only(client, shop):
    response = client.post(reverse("recommendations:api"), {"user_id": 1})
    assert response.status_code == 405


def test_fragment_renders_the_widget_for_the_current_user(client, shop):
    _, users = shop
    entries.write_entry(users[2].pk, [str(pk) for pk in range(1, 30)], "v2")
    client.force_login(users[2])
    response = client.get(reverse("recommendations:widget"), {"limit": 4})
    html = response.content.decode()
    assert 'data-source="model"' in html
    assert html.count('class="card recommendation"') == 4
    assert 'aria-labelledby="recommendations-' in html


def test_product_names_with_markup_are_escaped_in_widget_and_fragment(client, shop):
    _, users = shop
    hostile = '<script>alert(1)</script>"onmouseover="alert(2)'
    Product.objects.filter(pk=3).update(name=hostile, description=hostile)
    entries.write_entry(users[3].pk, ["3", "4", "5"], "v3")
    client.force_login(users[3])
    for url in (reverse("home"), reverse("recommendations:widget")):
        html = client.get(url).content.decode()
        assert "<script>alert(1)" not in html
        assert '"onmouseover="' not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    payload = client.get(reverse("recommendations:api")).json()
    assert (
        payload["items"][0]["name"] == hostile
    )  # JSON carries the raw text; JSON encoding is safe


def test_anonymous_api_gets_the_fallback(client, shop):
    response = client.get(reverse("recommendations:api"), {"limit": 6})
    payload = response.json()
    assert payload["source"] == "fallback"
    assert len(payload["items"]) == 6
