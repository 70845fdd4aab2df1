"""The catalog adapter's methods get what their documentation says: an adapter written to the
letter of `recommendations.catalog.CatalogAdapter` works on every path."""

import json

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from recommendations.backends import get_backend, reset_clients
from recommendations.prefetch import entries
from recommendations.prefetch.users import prefetch_users
from recommendations.service import recommend
from tests.app.shop.catalog import ShopCatalog
from tests.support.scripted_endpoint import (
    model_answer,
    ok,
    scripted_endpoint_fixture,  # noqa: F401 (fixture "scripted_endpoint")
)
from tests.support.shop_data import FIRST_USER_PK, NUM_ITEMS, make_shop

pytestmark = pytest.mark.django_db

# What each customer bought, by primary key: the shape the documentation gives the argument.
# The newest product too, which the last resort (newest products first) would otherwise show.
BOUGHT = {FIRST_USER_PK: {"3", "4", str(NUM_ITEMS)}}


class LiteralCatalog(ShopCatalog):
    """The test shop's products, with purchases looked up exactly as documented: by primary key."""

    def purchased_item_ids(self, user_id: int) -> set[str]:
        return set(BOUGHT.get(user_id, ()))

    def purchased_item_ids_for(self, user_ids):
        # The shop's own answers in one query; here every path goes through the method above.
        return {user_id: self.purchased_item_ids(user_id) for user_id in user_ids}


@pytest.fixture
def literal_shop(scripted_endpoint):
    _, users = make_shop()
    scripted_endpoint.script(ok({"predictions": [model_answer(*range(1, 12))]}))
    reset_clients()
    with override_settings(
        RECOMMENDATIONS={
            **settings.RECOMMENDATIONS,
            "BACKEND": "http",
            "HTTP_URL": scripted_endpoint.url + "/prod/recommend",
            "HTTP_API_KEY": "apigw-key-test",
            "REGION": "eu-west-1",
            "BUDGET_MS": 3000,  # generous: the page must wait for the answer on a busy machine
            "CATALOG": "tests.app.test_catalog_contract.LiteralCatalog",
        }
    ):
        get_backend().warm_up("page")
        yield users[0], scripted_endpoint
    reset_clients()


def excluded(received) -> list[str]:
    body = json.loads(received.body)
    return body.get("instances", [body])[0]["exclude"]


def test_a_page_asks_the_endpoint_without_what_the_user_bought(client, literal_shop):
    user, endpoint = literal_shop
    client.force_login(user)
    payload = client.get(reverse("recommendations:api"), {"limit": 4}).json()
    assert payload["source"] == "model"
    [received] = endpoint.received
    assert set(excluded(received)) == BOUGHT[user.pk]


def test_a_prefetch_asks_the_endpoint_without_what_the_user_bought(literal_shop):
    user, endpoint = literal_shop
    prefetch_users([user.pk])
    [received] = endpoint.received
    assert set(excluded(received)) == BOUGHT[user.pk]


def test_the_last_resort_leaves_out_what_the_user_bought(rf, literal_shop):
    user, _ = literal_shop
    # Nothing from the model or the fallback: the newest products fill the widget.
    entries.write_entry(user.pk, [], "v1")
    request = rf.get("/")
    request.user = user
    shown = [item.item_id for item in recommend(request, 8)]
    assert len(shown) == 8
    assert not BOUGHT[user.pk] & set(shown)
    assert str(NUM_ITEMS - 1) in shown
