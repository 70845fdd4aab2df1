"""Property-based tests of the views' query strings (hypothesis): whatever a client puts in the
query string of the JSON API, the widget fragment or a click link, the answer is a 200 (a 302 for
a click) or a 400 with a message, never a 500.

Query strings go in raw (QUERY_STRING as a server hands it over, any Latin-1 text, broken
percent-escapes included) and as encoded parameters (any Unicode names and values, and the names
the views read: limit, title and the refused user parameters).
"""

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommendations.prefetch import entries
from recommendations.tracking import clicks
from tests.app.shop.models import Product
from tests.support.shop_data import make_shop
from tests.support.tracking import OFFLINE_TRACKED, tracking_with

pytestmark = pytest.mark.django_db

TRACKED = {**OFFLINE_TRACKED, "PSEUDONYM_KEY": "k7Qx2L9pVd4mWz8RtY3nBc6HsJ1fGa5E"}
# The shop and the client are made once per test and shared by its examples, which only read.
EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VIEWS = ["recommendations:api", "recommendations:widget"]

raw_queries = st.text(alphabet=st.characters(max_codepoint=255), max_size=200)
names = st.one_of(
    st.sampled_from(["limit", "title", "user", "user_id", "uid", "customer", "customer_id"]),
    st.text(max_size=20),
)
values = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.sampled_from(["", "1", "50", "51", "0", "1e3", " 5 ", "٣", "5\x00", "9" * 5000]),
    st.text(max_size=200),
)
parameters = st.lists(st.tuples(names, values), max_size=6)


@pytest.fixture(autouse=True)
def tracked():
    with tracking_with(TRACKED):
        yield


@pytest.fixture(params=["anonymous", "customer"])
def visitor(request, client):
    """The test client, anonymous or logged in as a customer with prefetched recommendations."""
    _, users = make_shop()
    if request.param == "customer":
        entries.write_entry(users[0].pk, [str(pk) for pk in range(20, 40)], "v1")
        client.force_login(users[0])
    return client


def assert_answered(response, *ok: int) -> None:
    assert response.status_code in (*ok, 400), response.status_code
    if response.status_code == 400 and response["Content-Type"] == "application/json":
        assert response.json()["error"]


@pytest.mark.parametrize("name", VIEWS)
@EXAMPLES
@given(query=raw_queries)
def test_any_raw_query_string_is_answered_never_a_500(visitor, name, query):
    assert_answered(visitor.get(reverse(name), QUERY_STRING=query), 200)


@pytest.mark.parametrize("name", VIEWS)
@EXAMPLES
@given(pairs=parameters)
def test_any_parameters_are_answered_never_a_500(visitor, name, pairs):
    assert_answered(visitor.get(f"{reverse(name)}?{urlencode(pairs)}"), 200)


@EXAMPLES
@given(query=raw_queries, pairs=parameters)
def test_a_click_link_with_any_query_string_still_redirects(visitor, query, pairs):
    stamp = clicks.ImpressionStamp("e" * 32, "model", "model", "", ("5", "6"))
    link = reverse("recommendations:click", args=[clicks.sign(stamp), 2])
    for response in (
        visitor.get(link, QUERY_STRING=query),
        visitor.get(f"{link}?{urlencode(pairs)}"),
    ):
        assert response.status_code == 302
        assert response["Location"] == Product.objects.get(pk=6).get_absolute_url()
