"""Item ids from the endpoint that the database cannot hold (an integer past 64 bits, text where the
key is an integer) are dropped like any other untrusted item on every path that loads products: the
page (JSON API and fragment, fresh from the endpoint or from the cache), the prefetch that caches
answers, the fallback that fills in, and the click redirect. Never a 5xx, never cached.

Runs on the pass's database: SQLite refuses integers past 64 bits (OverflowError), PostgreSQL
refuses text for an integer key (DataError, which also aborts the transaction).
"""

import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from recommendations.backends import get_backend, reset_clients
from recommendations.cache import values as cache_values
from recommendations.prefetch import entries
from recommendations.prefetch.users import prefetch_users
from recommendations.tracking import clicks
from tests.app.shop.catalog import ShopCatalog
from tests.support.scripted_endpoint import (
    model_answer,
    ok,
    scripted_endpoint_fixture,  # noqa: F401 (fixture "scripted_endpoint")
)
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

HUGE = 2**70
# What an endpoint may answer besides real products: none of these can be a product's key.
UNHOLDABLE = [str(HUGE), str(2**63), str(-(2**63) - 1), "abc", "12abc"]
GOOD = ["5", "6", "7", "8", "9", "10"]


class PassThroughCatalog(ShopCatalog):
    """The shop's adapter, handing the wire id to the ORM as it is (Django turns "12" into 12
    itself), as a shop may well write it: text then reaches the products query."""

    def pk_from_item_id(self, item_id):
        return item_id


CATALOGS = [
    "tests.app.shop.catalog.ShopCatalog",
    "tests.app.test_untrusted_item_ids.PassThroughCatalog",
]
# No endpoint is reachable: a closed port, so a miss falls back at once.
OFFLINE = {"ENDPOINT_NAME": "offline", "ENDPOINT_URL": "http://127.0.0.1:9"}


@pytest.fixture
def customer(client):
    _, users = make_shop()
    client.force_login(users[0])
    return users[0]


def cache_raw_entry(user_id, item_ids):
    """An entry as an older version of the app (or another process) may have left it: unchecked."""
    now = time.time()
    cache.set(
        entries.user_key(user_id),
        cache_values.encode(
            {
                "item_ids": list(item_ids),
                "model_version": "v-old",
                "created_at": now,
                "fresh_until": now + 600,
                "variant": None,
            }
        ),
        600,
    )


@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize("view", ["recommendations:api", "recommendations:widget"])
def test_a_cached_answer_with_ids_the_database_cannot_hold_shows_the_others(
    client, customer, catalog, view
):
    cache_raw_entry(customer.pk, [*UNHOLDABLE, *GOOD])
    with override_settings(
        RECOMMENDATIONS={**settings.RECOMMENDATIONS, **OFFLINE, "CATALOG": catalog}
    ):
        # The first page creates the catalog's version, the second one shows from the snapshot.
        for _ in range(2):
            response = client.get(reverse(view), {"limit": 4})
            assert response.status_code == 200
    if view == "recommendations:api":
        payload = response.json()
        assert [item["item_id"] for item in payload["items"]] == GOOD[:4]
        assert payload["source"] == "model"
    else:
        assert b"Product 5" in response.content


@pytest.mark.parametrize("catalog", CATALOGS)
def test_an_answer_of_only_such_ids_falls_back(client, customer, catalog):
    cache_raw_entry(customer.pk, UNHOLDABLE)
    with override_settings(
        RECOMMENDATIONS={**settings.RECOMMENDATIONS, **OFFLINE, "CATALOG": catalog}
    ):
        response = client.get(reverse("recommendations:api"), {"limit": 4})
    assert response.status_code == 200
    payload = response.json()
    assert payload["source"] == "fallback"
    assert len(payload["items"]) == 4
    assert not {item["item_id"] for item in payload["items"]} & set(UNHOLDABLE)


@pytest.fixture
def endpoint_answering(scripted_endpoint):
    """The app pointed at a real HTTP endpoint (the http backend) that answers these item ids."""

    def point(item_ids, catalog=CATALOGS[0]):
        scripted_endpoint.script(ok({"predictions": [model_answer(*item_ids)]}))
        reset_clients()
        stack = override_settings(
            RECOMMENDATIONS={
                **settings.RECOMMENDATIONS,
                "BACKEND": "http",
                "HTTP_URL": scripted_endpoint.url + "/prod/recommend",
                "HTTP_API_KEY": "apigw-key-test",
                "REGION": "eu-west-1",
                # Generous: the page must wait for the answer on a busy machine.
                "BUDGET_MS": 3000,
                "CATALOG": catalog,
            }
        )
        stack.enable()
        get_backend().warm_up("page")
        return stack

    stacks = []
    yield lambda *args, **kwargs: stacks.append(point(*args, **kwargs))
    for stack in stacks:
        stack.disable()
    reset_clients()


@pytest.mark.parametrize("catalog", CATALOGS)
def test_a_fresh_answer_with_such_ids_shows_the_others_and_caches_none_of_them(
    client, customer, endpoint_answering, catalog
):
    # The endpoint's JSON may carry a huge id as a number as well as text.
    endpoint_answering([HUGE, *UNHOLDABLE, *GOOD], catalog)
    response = client.get(reverse("recommendations:api"), {"limit": 4})
    assert response.status_code == 200
    payload = response.json()
    assert [item["item_id"] for item in payload["items"]] == GOOD[:4]
    entry = entries.read_entry(customer.pk)
    assert entry is not None
    assert entry.item_ids == tuple(GOOD)


def test_a_prefetch_caches_none_of_such_ids(customer, endpoint_answering):
    endpoint_answering([HUGE, *UNHOLDABLE, *GOOD])
    result = prefetch_users([customer.pk])
    assert result.users == 1
    entry = entries.read_entry(customer.pk)
    assert entry is not None
    assert entry.item_ids == tuple(GOOD)


@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize("item_id", [str(HUGE), "abc"])
def test_a_click_on_such_an_id_leads_home(client, customer, catalog, item_id):
    stamp = clicks.ImpressionStamp("a" * 32, "model", "model", "", (item_id, "5"))
    token = clicks.sign(stamp)
    with override_settings(RECOMMENDATIONS={**settings.RECOMMENDATIONS, "CATALOG": catalog}):
        response = client.get(reverse("recommendations:click", args=[token, 1]))
        assert response.status_code == 302
        assert response["Location"] == "/"
        # The other item of the same link still leads to its product.
        response = client.get(reverse("recommendations:click", args=[token, 2]))
        assert response["Location"].endswith("/product-5/")
