"""Pseudonymous user ids: what leaves the premises instead of a user's primary key.

A keyed hash (HMAC-SHA256) of the primary key with `RECOMMENDATIONS["PSEUDONYM_KEY"]` (default:
`SECRET_KEY`, which a system check warns about). Stable across processes and restarts; rotating
the key changes every pseudonym, so the model must be retrained on an export made with the new key.
During a change the old keys go in `PSEUDONYM_KEY_FALLBACKS` (as Django's `SECRET_KEY_FALLBACKS`):
new pseudonyms are made with the new key only, and a pseudonym made earlier (one a signed click
link carries) is still recognised as its user's (`pseudonyms_of`).
"""

import hashlib
import hmac
from functools import lru_cache

from django.conf import settings

from ..conf import app_settings


def key_is_borrowed() -> bool:
    """Whether the pseudonyms are keyed with SECRET_KEY because PSEUDONYM_KEY is not set."""
    return not app_settings.PSEUDONYM_KEY


def current_key() -> str:
    """The key that makes pseudonyms now: PSEUDONYM_KEY, or SECRET_KEY when it is not set."""
    return str(app_settings.PSEUDONYM_KEY or settings.SECRET_KEY)


def fallback_keys() -> list[str]:
    """Older keys whose pseudonyms are still recognised, newest first."""
    fallbacks = app_settings.PSEUDONYM_KEY_FALLBACKS
    if key_is_borrowed() and not fallbacks:
        # The key is SECRET_KEY's, so it rotates the way SECRET_KEY does.
        fallbacks = getattr(settings, "SECRET_KEY_FALLBACKS", None) or []
    if not isinstance(fallbacks, list | tuple):
        return []  # recommendations.E103 says so; a page must not fail over it
    return [str(key) for key in fallbacks]


def pseudonym(user_id: object) -> str:
    """The keyed hash that stands for this user outside the shop (32 hex characters)."""
    return _pseudonym(current_key().encode(), str(user_id))


def pseudonyms_of(user_id: object) -> tuple[str, ...]:
    """This user's pseudonym under the current key, then under each fallback key."""
    user = str(user_id)
    return tuple(_pseudonym(key.encode(), user) for key in [current_key(), *fallback_keys()])


@lru_cache(maxsize=4096)
def _pseudonym(key: bytes, user_id: str) -> str:
    # Kept per key: a page asks for the same user's pseudonym twice (arm, impression).
    return hmac.new(key, f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]
