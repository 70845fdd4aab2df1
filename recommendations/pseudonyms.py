"""Pseudonymous user ids: what leaves the premises instead of a user's primary key.

A keyed hash (HMAC-SHA256) of the primary key with `RECOMMENDATIONS["PSEUDONYM_KEY"]` (default:
`SECRET_KEY`). Stable across processes and restarts; rotating the key changes every pseudonym, so
the model must be retrained on an export made with the new key (see the README's operations section).
"""

import hashlib
import hmac
from functools import lru_cache

from django.conf import settings

from .conf import app_settings


def _key() -> bytes:
    return str(app_settings.PSEUDONYM_KEY or settings.SECRET_KEY).encode()


def pseudonym(user_id: object) -> str:
    """The keyed hash that stands for this user outside the shop (32 hex characters)."""
    return _pseudonym(_key(), str(user_id))


@lru_cache(maxsize=4096)
def _pseudonym(key: bytes, user_id: str) -> str:
    # Kept per key: a page asks for the same user's pseudonym twice (arm, impression).
    return hmac.new(key, f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]
