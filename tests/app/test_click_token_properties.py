"""Property-based tests of the click tokens (hypothesis): any impression survives a round trip, and
no token or position, garbage or tampered, makes the click view fail or count.

The view is driven through Django's test client, so the URL resolver, the middleware and the view
see what a browser would send.
"""

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommendations.tracking import clicks, events
from tests.support.tracking import OFFLINE_TRACKED, tracking_with

pytestmark = pytest.mark.django_db

TRACKED = {**OFFLINE_TRACKED, "PSEUDONYM_KEY": "k7Qx2L9pVd4mWz8RtY3nBc6HsJ1fGa5E"}
# The client, the shop and the settings are made once per test and shared by its examples: each
# example only reads them (and the event buffer is emptied in between).
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.text(max_size=40)
stamps = st.builds(
    clicks.ImpressionStamp,
    request_id=texts,
    arm=texts,
    source=texts,
    variant=texts,
    item_ids=st.lists(texts, min_size=1, max_size=12).map(tuple),
    viewer=texts,
)


@pytest.fixture(autouse=True)
def tracked():
    with tracking_with(TRACKED):
        yield


@EXAMPLES
@given(stamp=stamps, data=st.data())
def test_any_impression_survives_the_round_trip(stamp, data):
    token = clicks.sign(stamp)
    position = data.draw(st.integers(min_value=1, max_value=len(stamp.item_ids)))
    target = clicks.read(token, position)
    assert (target.request_id, target.arm, target.source, target.variant) == (
        stamp.request_id,
        stamp.arm,
        stamp.source,
        stamp.variant,
    )
    assert (target.item_id, target.position) == (stamp.item_ids[position - 1], position)
    assert target.viewer_binding == clicks.viewer_binding(stamp.request_id, stamp.viewer)


@EXAMPLES
@given(stamp=stamps, position=st.one_of(st.integers(max_value=0), st.integers(min_value=13)))
def test_a_position_the_impression_did_not_show_is_refused(stamp, position):
    with pytest.raises(clicks.BadClickToken):
        clicks.read(clicks.sign(stamp), position)


def click_response(client, token: str, position: int | str):
    """What the site answers to this link (the token as it would appear in a URL)."""
    return client.get(f"/recommendations/click/{quote(token, safe='')}/{position}/")


def assert_refused_or_uncounted(response) -> None:
    # 404: the URL resolver found no click link at all (an empty token, a "/" in it).
    assert response.status_code in (302, 400, 404), response.status_code
    if response.status_code == 302:
        assert response["X-Click-Counted"] == "0"
    assert len(events.buffer()) == 0


@EXAMPLES
@given(token=st.text(max_size=300), position=st.integers(min_value=0, max_value=10**30))
def test_a_garbage_token_is_refused_never_a_500(client, shop, token, position):
    events.buffer().clear()
    assert_refused_or_uncounted(click_response(client, token, position))


def tampered(token: str, data: st.DataObject) -> str:
    """The token with one character changed, inserted or removed somewhere."""
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    how = data.draw(st.sampled_from(["change", "insert", "remove"]))
    if how == "remove":
        return token[:index] + token[index + 1 :]
    new = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[index]))
    if how == "insert":
        return token[:index] + new + token[index:]
    return token[:index] + new + token[index + 1 :]


@EXAMPLES
@given(stamp=stamps, data=st.data())
def test_a_tampered_genuine_token_is_refused_never_a_500(client, shop, stamp, data):
    events.buffer().clear()
    token = tampered(clicks.sign(stamp), data)
    position = data.draw(st.integers(min_value=0, max_value=len(stamp.item_ids) + 1))
    response = click_response(client, token, position)
    assert response.status_code in (400, 404), response.status_code
    assert len(events.buffer()) == 0


@EXAMPLES
@given(
    item_ids=st.lists(
        # Products of the shop, ids no product has (out of any column's range too), any text.
        st.one_of(st.integers(1, 80).map(str), st.integers(-(10**30), 10**30).map(str), texts),
        min_size=1,
        max_size=8,
    ),
    position=st.integers(min_value=0, max_value=10),
)
def test_a_genuine_token_shown_to_someone_else_never_counts(client, shop, item_ids, position):
    # Shown to a customer (a viewer pseudonym), followed by an anonymous visitor.
    events.buffer().clear()
    stamp = clicks.ImpressionStamp("f" * 32, "model", "model", "", tuple(item_ids), "a" * 32)
    response = click_response(client, clicks.sign(stamp), position)
    if 1 <= position <= len(item_ids):
        assert response.status_code == 302
        assert response["Location"].startswith("/")
        assert not response["Location"].startswith("//")
    else:
        assert response.status_code == 400
    assert_refused_or_uncounted(response)
