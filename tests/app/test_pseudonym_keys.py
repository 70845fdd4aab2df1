"""The pseudonym key: checked like a secret (known defaults, length, borrowed from SECRET_KEY) and
rotated the way Django rotates SECRET_KEY (the new key makes pseudonyms, fallbacks still read old
ones)."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from recommendations.checks.security import check_pseudonym_key
from recommendations.tracking import pseudonyms

GOOD = {
    "ENDPOINT_NAME": "shop-recommender",
    "PRODUCT_MODEL": "shop.Product",
    "CATALOG": "tests.app.shop.catalog.ShopCatalog",
    "CURRENCY": "EUR",  # both shops sell in euros (W004 asks a shop with prices to say so)
}
STRONG = "k7Qx2L9pVd4mWz8RtY3nBc6HsJ1fGa5E"  # 32 characters, as secrets.token_urlsafe(24) gives
OTHER_STRONG = "Zq1Wx2Ec3Rv4Tb5Yn6Um7Ik8Ol9Pa0Sd"
DEMO_SECRET_KEY = "demo-shop-insecure-key-change-me"  # the demo shop's published key


def ids(debug: bool = False, secret_key: str = OTHER_STRONG * 2, **overrides) -> list[str]:
    with override_settings(
        DEBUG=debug, SECRET_KEY=secret_key, RECOMMENDATIONS={**GOOD, **overrides}
    ):
        return [message.id for message in check_pseudonym_key()]


def test_an_own_strong_key_passes():
    assert ids(PSEUDONYM_KEY=STRONG) == []


def test_a_key_borrowed_from_secret_key_is_a_warning():
    assert ids() == ["recommendations.W101"]
    assert ids(PSEUDONYM_KEY=OTHER_STRONG * 2) == ["recommendations.W101"]  # SECRET_KEY by name


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # borrowed: the demo's published SECRET_KEY
        {"PSEUDONYM_KEY": DEMO_SECRET_KEY},
        {"PSEUDONYM_KEY": "demo-shop-insecure-pseudonym-key-change-me"},
        {"PSEUDONYM_KEY": "django-insecure-" + STRONG},  # startproject's marked default
    ],
)
def test_a_published_key_is_an_error_outside_debug(overrides):
    assert "recommendations.E101" in ids(secret_key=DEMO_SECRET_KEY, **overrides)


@pytest.mark.parametrize("key", ["short", "a" * 40, "abab" * 10])
def test_a_short_or_repetitive_key_is_an_error_outside_debug(key):
    assert ids(PSEUDONYM_KEY=key) == ["recommendations.E102"]


def test_in_debug_a_published_or_short_key_is_not_an_error():
    assert ids(debug=True, secret_key=DEMO_SECRET_KEY) == ["recommendations.W101"]
    assert ids(debug=True, PSEUDONYM_KEY="short") == []


@pytest.mark.parametrize("fallbacks", ["old-key", [STRONG, 3], None])
def test_fallbacks_must_be_a_list_of_strings(fallbacks):
    from recommendations.checks import check_settings

    with override_settings(
        RECOMMENDATIONS={**GOOD, "PSEUDONYM_KEY": STRONG, "PSEUDONYM_KEY_FALLBACKS": fallbacks}
    ):
        assert [message.id for message in check_settings()] == ["recommendations.E103"]


@pytest.mark.django_db  # Django 6.1's `check` also runs the database checks (JSONField support)
def test_manage_py_check_stops_on_the_published_key():
    with (
        override_settings(DEBUG=False, SECRET_KEY=DEMO_SECRET_KEY, RECOMMENDATIONS=GOOD),
        pytest.raises(SystemCheckError, match=r"recommendations\.E101"),
    ):
        call_command("check")


def test_the_error_names_the_setting_and_never_shows_the_key():
    with override_settings(
        DEBUG=False,
        SECRET_KEY=OTHER_STRONG * 2,
        RECOMMENDATIONS={**GOOD, "PSEUDONYM_KEY": DEMO_SECRET_KEY},
    ):
        (message,) = check_pseudonym_key()
    assert "PSEUDONYM_KEY" in message.msg
    assert DEMO_SECRET_KEY not in message.msg + message.hint
    assert message.hint


def test_the_new_key_makes_pseudonyms_and_fallbacks_still_recognise_old_ones():
    with override_settings(RECOMMENDATIONS={**GOOD, "PSEUDONYM_KEY": OTHER_STRONG}):
        old = pseudonyms.pseudonym(42)
    rotating = {**GOOD, "PSEUDONYM_KEY": STRONG, "PSEUDONYM_KEY_FALLBACKS": [OTHER_STRONG]}
    with override_settings(RECOMMENDATIONS=rotating):
        new = pseudonyms.pseudonym(42)
        assert new != old
        assert pseudonyms.pseudonyms_of(42) == (new, old)
    with override_settings(RECOMMENDATIONS={**GOOD, "PSEUDONYM_KEY": STRONG}):
        assert pseudonyms.pseudonyms_of(42) == (new,)


def test_a_borrowed_key_rotates_with_secret_key_fallbacks():
    with override_settings(SECRET_KEY=OTHER_STRONG * 2, RECOMMENDATIONS=GOOD):
        old = pseudonyms.pseudonym(7)
    with override_settings(
        SECRET_KEY=STRONG * 2, SECRET_KEY_FALLBACKS=[OTHER_STRONG * 2], RECOMMENDATIONS=GOOD
    ):
        assert pseudonyms.pseudonyms_of(7)[1:] == (old,)
