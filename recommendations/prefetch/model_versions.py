"""Noticing a new model version in the endpoint's answers, and refreshing what the old one made.

When a prefetch batch or an inline call gets a `model_version` other than the one last seen for
its production variant, the shared cache records `{"version": ..., "since": ...}`. An entry made by
another version before `since` is outdated: the page keeps showing it and a refresh is enqueued,
due at `since` plus a share of MODEL_VERSION_REFRESH_SPREAD picked by a hash of the user id, so the
new model's extra calls are spread over that window, not one stampede. An entry made after `since`
by the other version is left alone: both answer during a rollout. Pages read the record from a
per-process copy refreshed at most every LATEST_CHECK_SECONDS.
"""

import hashlib
import threading
import time
from dataclasses import dataclass

from ..cache import local_state
from ..cache.access import get_cache
from ..conf import app_settings
from .entries import PrefetchedEntry

KEY_PREFIX = "recommendations:model-version:"
LATEST_CHECK_SECONDS = 10.0

_local: dict[str, tuple[float, "VersionRecord | None"]] = {}
_local_lock = threading.Lock()


@dataclass(frozen=True)
class VersionRecord:
    """The newest model version answers showed, and since when (epoch seconds)."""

    version: str
    since: float


def _key(target_variant: str | None) -> str:
    return KEY_PREFIX + (target_variant or "default")


def note_version(
    version: str | None, target_variant: str | None = None, now: float | None = None
) -> bool:
    """Record `version` as the newest seen for `target_variant`; True when it is a new one."""
    if not version:
        return False
    key = _key(target_variant)
    now = time.time() if now is None else now
    known = _local.get(key)
    if (
        known is not None
        and now - known[0] < LATEST_CHECK_SECONDS
        and known[1] is not None
        and known[1].version == version
    ):
        return False  # this process knows it already: no cache traffic for the usual case
    cache = get_cache()
    record = _parse(cache.get(key))
    if record is None or record.version != version:
        record = VersionRecord(version, now)
        # Kept as long as an entry can live, and as long as refreshes may still be due.
        timeout = int(app_settings.STALE_TTL) + int(app_settings.MODEL_VERSION_REFRESH_SPREAD)
        cache.set(key, {"version": version, "since": now}, timeout=timeout)
        _remember(key, record, now)
        return True
    _remember(key, record, now)
    return False


def latest(target_variant: str | None = None, now: float | None = None) -> VersionRecord | None:
    """The newest version answers showed (this process's copy, at most LATEST_CHECK_SECONDS old)."""
    key = _key(target_variant)
    now = time.time() if now is None else now
    known = _local.get(key)
    if known is not None and now - known[0] < LATEST_CHECK_SECONDS:
        return known[1]
    record = _parse(get_cache().get(key))  # an unreachable cache reads as no record
    _remember(key, record, now)
    return record


def refresh_due_at(user_id: object, record: VersionRecord) -> float:
    """When a user's entry from an older version is due for a refresh: spread by user id."""
    digest = hashlib.blake2b(str(user_id).encode(), digest_size=8).digest()
    share = int.from_bytes(digest, "big") / 2**64
    return record.since + share * float(app_settings.MODEL_VERSION_REFRESH_SPREAD)


def is_outdated(
    entry: PrefetchedEntry,
    user_id: object,
    target_variant: str | None = None,
    now: float | None = None,
) -> bool:
    """True when `entry` was made by a version older than the newest and its refresh is due."""
    now = time.time() if now is None else now
    record = latest(target_variant, now)
    if record is None or not entry.model_version or entry.model_version == record.version:
        return False
    if entry.created_at >= record.since:
        return False  # made while both versions answered: asking again would not help
    return now >= refresh_due_at(user_id, record)


def forget_local() -> None:
    """Drop this process's copy (tests; a process that must read the cache at once)."""
    with _local_lock:
        _local.clear()


def _new_lock_after_fork() -> None:
    # The parent's lock may be held by one of its threads, which the child does not have.
    global _local_lock
    _local_lock = threading.Lock()
    forget_local()


# The newest version seen came from the cache: it must not outlive the cache's settings.
local_state.register(
    "model_versions",
    drop=forget_local,
    settings={"RECOMMENDATIONS", "CACHES"},
    after_fork=_new_lock_after_fork,
)


def _remember(key: str, record: VersionRecord | None, now: float) -> None:
    with _local_lock:
        _local[key] = (now, record)


def _parse(raw: object) -> VersionRecord | None:
    if not isinstance(raw, dict):
        return None
    try:
        return VersionRecord(str(raw["version"]), float(raw["since"]))
    except (KeyError, TypeError, ValueError):
        return None
