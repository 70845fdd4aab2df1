"""Prefetched model answers in the cache: one entry per user, fresh for a while, then stale.

An entry is written by the Celery prefetch tasks (or by an inline endpoint call on a cache miss)
and read by `service.recommend` on every page view: the one cache read a page normally costs.
Users of the second production variant's arm (see `tracking/arms.py`) have their entries under a key of
their own that names the variant, so an answer of one variant is never served as the other's.
"""

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cache import near as near_cache
from ..cache.access import get_cache
from ..catalog import get_catalog
from ..conf import app_settings
from ..serving import visibility

KEY_PREFIX = "recommendations:user:"


@dataclass(frozen=True)
class PrefetchedEntry:
    """Ranked wire ids the model gave for one user, with the model version and when it was made."""

    item_ids: tuple[str, ...]
    model_version: str | None
    created_at: float
    fresh_until: float
    variant: str | None = None
    prior: bool = False  # the model did not know the user (its popularity prior answered)
    # What the user may not be shown among item_ids, and until when (serving/visibility.py): the
    # answer is kept whole, the rule is applied when it is read.
    hidden: Mapping[str, float | None] = field(default_factory=dict, hash=False)

    def is_fresh(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.fresh_until

    def as_value(self) -> dict[str, Any]:
        """The cache value `entry_from` reads back (built by hand: `dataclasses.asdict` deep-copies
        field by field, a fifth of a prefetch batch's CPU in the worker)."""
        return {
            "item_ids": list(self.item_ids),
            "model_version": self.model_version,
            "created_at": self.created_at,
            "fresh_until": self.fresh_until,
            "variant": self.variant,
            "prior": self.prior,
            "hidden": dict(self.hidden),
        }


def user_key(user_id: object, target_variant: str | None = None) -> str:
    """The cache key of the user's entry for requests to `target_variant` (None: the default)."""
    if target_variant:
        return f"{KEY_PREFIX}{user_id}:variant:{target_variant}"
    return f"{KEY_PREFIX}{user_id}"


def read_entry(user_id: object, target_variant: str | None = None) -> PrefetchedEntry | None:
    """The user's entry, or None on a miss (an unreachable cache is a miss)."""
    return entry_from(get_cache().get(user_key(user_id, target_variant)))


def read_entry_with(
    user_id: object, target_variant: str | None, *other_keys: str
) -> tuple[PrefetchedEntry | None, dict[str, Any]]:
    """The user's entry and the values of `other_keys` that are present, in one cache round trip
    (none when this process keeps them all, see cache/near.py)."""
    key = user_key(user_id, target_variant)
    values = near_cache.get_many([key, *other_keys])
    return entry_from(values.pop(key, None)), values


def entry_from(raw: Any) -> PrefetchedEntry | None:
    """The entry a cache value holds, or None when it holds none (a miss, an older layout)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("item_ids"), list):
        return None
    hidden = visibility.hidden_from_cache(raw.get("hidden", {}))
    if hidden is None:
        return None
    try:
        return PrefetchedEntry(
            item_ids=tuple(str(i) for i in raw["item_ids"]),
            model_version=raw.get("model_version"),
            created_at=float(raw["created_at"]),
            fresh_until=float(raw["fresh_until"]),
            variant=raw.get("variant"),
            prior=raw.get("prior") is True,
            hidden=hidden,
        )
    except (KeyError, TypeError, ValueError):
        return None  # an entry from an older layout is a miss, not an error


def write_entry(
    user_id: object,
    item_ids: tuple[str, ...] | list[str],
    model_version: str | None,
    variant: str | None = None,
    target_variant: str | None = None,
    prior: bool = False,
    hidden: visibility.Hidden | None = None,
) -> PrefetchedEntry:
    """Store a fresh entry; it stays fresh for FRESH_TTL and readable (stale) until STALE_TTL.

    `hidden` is what the user may not be shown (`CatalogAdapter.hidden_items`): the entry keeps
    the part of it about its own items, for the page that reads it (`visibility.for_storing`)."""
    entry = _fresh_entry(item_ids, model_version, variant, time.time(), prior, hidden)
    near_cache.store(
        user_key(user_id, target_variant), entry.as_value(), timeout=int(app_settings.STALE_TTL)
    )
    return entry


def write_entries(
    answers: Iterable[tuple[object, Sequence[str], str | None, str | None, bool]],
    target_variant: str | None = None,
    hidden: Mapping[Any, visibility.Hidden] | None = None,
) -> None:
    """`write_entry` for many (user id, item ids, model version, variant, prior) in one cache write,
    with each user's hidden items in `hidden` (by user id).

    A prefetch batch writes its 50 entries in one round trip and one announcement instead of 100.
    """
    now = time.time()
    values = {
        user_key(user_id, target_variant): _fresh_entry(
            item_ids, model_version, variant, now, prior, (hidden or {}).get(user_id)
        ).as_value()
        for user_id, item_ids, model_version, variant, prior in answers
    }
    near_cache.store_many(values, timeout=int(app_settings.STALE_TTL))


def _fresh_entry(
    item_ids: Sequence[str],
    model_version: str | None,
    variant: str | None,
    now: float,
    prior: bool = False,
    hidden: visibility.Hidden | None = None,
) -> PrefetchedEntry:
    # Ids the database cannot hold are dropped here, so that no cached answer holds one.
    stored, carried = visibility.for_storing(
        get_catalog().storable_item_ids(item_ids), hidden or {}
    )
    return PrefetchedEntry(
        item_ids=stored,
        model_version=model_version,
        created_at=now,
        fresh_until=now + float(app_settings.FRESH_TTL),
        variant=variant,
        prior=prior,
        hidden=carried,
    )


def delete_entry(user_id: object) -> None:
    """Drop the user's entries (after a purchase, so bought items vanish at once)."""
    keys = [user_key(user_id)]
    if app_settings.SECOND_VARIANT:
        keys.append(user_key(user_id, str(app_settings.SECOND_VARIANT)))
    near_cache.delete_many(keys)
