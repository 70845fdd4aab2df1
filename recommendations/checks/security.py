"""System checks of the app's secrets and exposure: the pseudonym key and the metrics view.

Ids continue the app's sequence well above the settings checks': recommendations.E101... and W101....
A key is never shown in a message: the messages say which setting is wrong and why.
"""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning

from ..conf import app_settings
from ..tracking import pseudonyms

SETTING = "settings.RECOMMENDATIONS"
# Keys published in this repository or marked insecure by Django's startproject: anyone can
# compute pseudonyms with them, so an export's pseudonyms lead back to users by trying every pk.
PUBLISHED_KEYS = frozenset(
    {
        "demo-shop-insecure-key-change-me",
        "demo-shop-insecure-pseudonym-key-change-me",
    }
)
INSECURE_PREFIX = "django-insecure-"
# 32 characters of a random token are 160+ bits; fewer than 5 distinct characters is a pattern.
MIN_KEY_LENGTH = 32
MIN_UNIQUE_CHARACTERS = 5
NEW_KEY_HINT = (
    "Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`, keep it "
    "out of the repository, and see docs/security.md for changing it without losing users."
)


def is_published(key: str) -> bool:
    """Whether the key is one anybody can know (a demo's or startproject's default)."""
    return key in PUBLISHED_KEYS or key.startswith(INSECURE_PREFIX)


def is_weak(key: str) -> bool:
    """Whether the key is too short or too repetitive to keep pseudonyms secret."""
    return len(key) < MIN_KEY_LENGTH or len(set(key)) < MIN_UNIQUE_CHARACTERS


def check_pseudonym_key(app_configs: Any = None, **kwargs: Any) -> list:
    """Check PSEUDONYM_KEY and PSEUDONYM_KEY_FALLBACKS."""
    messages: list = []
    borrowed = pseudonyms.key_is_borrowed()
    name = "SECRET_KEY (which PSEUDONYM_KEY borrows)" if borrowed else f"{SETTING}['PSEUDONYM_KEY']"
    key = pseudonyms.current_key()
    if not settings.DEBUG and is_published(key):
        messages.append(
            Error(
                f"{name} is a published default, so anyone can turn the pseudonyms of an export "
                "back into user ids by hashing every primary key.",
                hint=NEW_KEY_HINT,
                id="recommendations.E101",
            )
        )
    elif not settings.DEBUG and is_weak(key):
        messages.append(
            Error(
                f"{name} has fewer than {MIN_KEY_LENGTH} characters or fewer than "
                f"{MIN_UNIQUE_CHARACTERS} different ones: too weak to keep pseudonyms secret.",
                hint=NEW_KEY_HINT,
                id="recommendations.E102",
            )
        )
    # PSEUDONYM_KEY_FALLBACKS' type is checked with every other setting's (conf.defaults.KINDS: E103).
    # The same key under its own name is still SECRET_KEY: one leak gives both away.
    if borrowed or key == str(settings.SECRET_KEY):
        messages.append(
            Warning(
                f"{SETTING}['PSEUDONYM_KEY'] is not set, so pseudonyms are keyed with SECRET_KEY: "
                "whoever learns SECRET_KEY can link exported pseudonyms to users, and rotating "
                "SECRET_KEY changes every pseudonym.",
                hint="Give the pseudonyms a key of their own; see docs/security.md for moving to "
                "it with PSEUDONYM_KEY_FALLBACKS.",
                id="recommendations.W101",
            )
        )
    return messages


def check_metrics_access(app_configs: Any = None, **kwargs: Any) -> list:
    """Check how the metrics view is protected (a deploy check: behind a proxy, addresses are not)."""
    messages: list = []
    token = app_settings.METRICS_TOKEN
    if token and (not isinstance(token, str) or (not settings.DEBUG and is_weak(token))):
        messages.append(
            Error(
                f"{SETTING}['METRICS_TOKEN'] must be a string of at least {MIN_KEY_LENGTH} "
                f"characters with at least {MIN_UNIQUE_CHARACTERS} different ones.",
                hint="Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
                id="recommendations.E104",
            )
        )
    if app_settings.METRICS_ALLOWED_IPS:
        protection = (
            "without the token METRICS_TOKEN asks for" if token else "and nothing else protects it"
        )
        messages.append(
            Warning(
                f"{SETTING}['METRICS_ALLOWED_IPS'] lets any request from its addresses read the "
                f"metrics view {protection}; behind a reverse proxy every request comes from the "
                "proxy's address, so the view is public.",
                hint="Set METRICS_TOKEN, have the scraper send it as a bearer token, and set "
                "METRICS_ALLOWED_IPS to [].",
                id="recommendations.W102",
            )
        )
    return messages
