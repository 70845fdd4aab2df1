"""The local fallback ranking: computed ahead of time, stored as versions, read through the cache.

`refresh()` computes popularity and co-purchase neighbours from the catalog adapter's history
(`fallback/compute.py`), writes them as a new `FallbackVersion` and makes it current in one short
transaction, so a page sees the old or the new ranking, never a half-written one.

At page time `ranked_item_ids()` costs at most two queries on a cold cache (the user's history
through the adapter, then the current version's popularity list and the neighbour lists of the
user's recent items together) and none on a warm one. It returns wire ids; the caller drops
products that became unavailable, so it should ask for a few more than it shows.
"""

import logging
import time
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..cache.access import CacheUnavailable, get_cache
from ..cache.lock import CacheLock
from ..catalog import get_catalog
from ..conf import app_settings
from ..models import FallbackRanking, FallbackVersion
from .compute import FallbackTables, blend, compute_tables

logger = logging.getLogger(__name__)

KEY_PREFIX = "recommendations:fallback"
CURRENT_KEY = f"{KEY_PREFIX}:current"
# A shop with no computed version is asked again after this many seconds, not on every page.
NO_VERSION_TTL = 60
# A refresh holds this lock so that beat, a manual command and a retry never compute twice at
# once; it expires by itself if a worker dies mid-refresh.
LOCK_KEY = f"{KEY_PREFIX}:refresh-lock"
LOCK_TTL = 30 * 60
# A user's cached list is this long at least, so a later call with more exclusions needs no query.
USER_CACHED_ITEMS = 100
WRITE_BATCH = 1_000

Kind = FallbackRanking.Kind


def _cache() -> Any:
    # Through the resilient wrapper: a cache that is down makes a lookup a miss, never an error.
    return get_cache()


def _user_key(user_id: int) -> str:
    return f"{KEY_PREFIX}:user:{user_id}"


def _category_key(category: str) -> str:
    return f"{KEY_PREFIX}:category:{category}"


# --- refresh ----------------------------------------------------------------------------------


def refresh(
    progress: Callable[[int], None] | None = None, now: datetime | None = None
) -> FallbackVersion:
    """Compute the fallback from the whole history and make it the current version atomically.

    `progress` is called with the number of interaction lines read in each chunk (tqdm's
    `update` fits). A failure anywhere leaves the previous version current and nothing new behind.
    """
    started = time.monotonic()
    now = now or timezone.now()
    catalog = get_catalog()
    tables = compute_tables(
        catalog.interaction_chunks(chunk_size=int(app_settings.FALLBACK_CHUNK_SIZE)),
        catalog.item_categories(),
        now=now.timestamp(),
        half_life_days=float(app_settings.FALLBACK_HALF_LIFE_DAYS),
        neighbours=int(app_settings.FALLBACK_NEIGHBOURS),
        progress=progress,
    )
    with transaction.atomic():
        version = FallbackVersion.objects.create(
            computed_at=now,
            interactions=tables.interactions,
            users=tables.users,
            items=len(tables.items),
        )
        _write_rankings(version, tables)
    with transaction.atomic():
        # The flip is the only statement that changes what pages see.
        FallbackVersion.objects.filter(is_current=True).update(is_current=False)
        version.duration_ms = int((time.monotonic() - started) * 1000)
        version.is_current = True
        version.save(update_fields=["is_current", "duration_ms"])
    _publish(version, tables)
    removed = _remove_old_versions(version)
    logger.info(
        "fallback refreshed",
        extra={
            "version": version.pk,
            "interactions": version.interactions,
            "items": version.items,
            "duration_ms": version.duration_ms,
            "removed_versions": removed,
        },
    )
    return version


def refresh_exclusive(
    progress: Callable[[int], None] | None = None,
) -> FallbackVersion | None:
    """`refresh()` unless another process is refreshing (then None): for beat and the command."""
    lock = CacheLock(LOCK_KEY, LOCK_TTL)
    try:
        locked = lock.acquire()
    except CacheUnavailable:
        # No cache, no lock: refresh anyway; publishing a version is atomic in the database.
        return refresh(progress)
    if not locked:
        logger.info("fallback refresh skipped: another one is running")
        return None
    try:
        return refresh(progress)
    finally:
        # Only release our own lock: one that expired and was taken by another refresh stays.
        lock.release()


def _rankings(version: FallbackVersion, tables: FallbackTables) -> Iterator[FallbackRanking]:
    limit = int(app_settings.FALLBACK_POPULAR_ITEMS)
    ids, scores = tables.popular(limit)
    yield FallbackRanking(version=version, kind=Kind.POPULAR, key="", item_ids=ids, scores=scores)
    for category in tables.categories:
        ids, scores = tables.category_popular(category, limit)
        yield FallbackRanking(
            version=version, kind=Kind.CATEGORY, key=category, item_ids=ids, scores=scores
        )
    for position, pk in enumerate(tables.items.tolist()):
        ids, scores = tables.neighbours(position)
        if ids:
            yield FallbackRanking(
                version=version,
                kind=Kind.NEIGHBOURS,
                key=str(pk),
                item_ids=ids,
                scores=[round(score, 5) for score in scores],
            )


def _write_rankings(version: FallbackVersion, tables: FallbackTables) -> None:
    batch: list[FallbackRanking] = []
    for ranking in _rankings(version, tables):
        batch.append(ranking)
        if len(batch) >= WRITE_BATCH:
            FallbackRanking.objects.bulk_create(batch)
            batch = []
    if batch:
        FallbackRanking.objects.bulk_create(batch)


def _remove_old_versions(current: FallbackVersion) -> int:
    """Delete versions older than the current one (a refresh still writing a newer one is kept)."""
    # Their rankings go in the same call as one DELETE per batch of versions (no per-row fetch).
    _, removed = FallbackVersion.objects.filter(is_current=False, pk__lt=current.pk).delete()
    return removed.get(FallbackVersion._meta.label, 0)


def _publish(version: FallbackVersion, tables: FallbackTables) -> None:
    """Put the new version's pointer and popularity list in the cache for every process."""
    ids, scores = tables.popular(int(app_settings.FALLBACK_POPULAR_ITEMS))
    _cache().set(
        CURRENT_KEY, _pointer(version.pk, ids, scores), int(app_settings.FALLBACK_CACHE_TTL)
    )


def _pointer(version_id: int, ids: list[str], scores: list[float]) -> dict[str, Any]:
    return {"version": version_id, "popular": ids, "scores": scores}


# The cache's values are read back as JSON of any shape (cache/values.py): each reader checks it
# has the shape this module writes, and treats anything else as a miss.


def _is_id_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _pointer_from(raw: Any) -> dict[str, Any] | None:
    """The cached pointer (the empty one of a shop without a version too), or None."""
    if raw == {}:
        return raw
    if not (
        isinstance(raw, dict)
        and isinstance(raw.get("version"), int)
        and _is_id_list(raw.get("popular"))
        and isinstance(raw.get("scores"), list)
        and all(isinstance(s, int | float) for s in raw["scores"])
    ):
        return None
    return raw


def _list_entry_from(raw: Any, version_of: dict[str, Any] | None) -> dict[str, Any] | None:
    """A cached user or category list of the pointer's version, or None."""
    if (
        version_of is None
        or not isinstance(raw, dict)
        or raw.get("version") != version_of.get("version")
        or not _is_id_list(raw.get("items"))
    ):
        return None
    return raw


# --- page time --------------------------------------------------------------------------------


def current_version() -> FallbackVersion | None:
    """The version pages are served from, or None before the first refresh."""
    return FallbackVersion.objects.filter(is_current=True).first()


def popular_item_ids(limit: int, category: Any = None) -> list[str]:
    """The most popular items, overall or of one category (a catalog category key), best first."""
    if limit <= 0:
        return []
    if category is None:
        pointer = _pointer_from(_cache().get(CURRENT_KEY))
        if pointer is None:
            pointer = _load({Kind.POPULAR: [""]})[0]
        return list(pointer.get("popular", ()))[:limit]
    key = str(category)
    found = _cache().get_many([CURRENT_KEY, _category_key(key)])
    pointer = _pointer_from(found.get(CURRENT_KEY))
    entry = _list_entry_from(found.get(_category_key(key)), pointer)
    if entry is None:
        pointer, lists = _load({Kind.POPULAR: [""], Kind.CATEGORY: [key]})
        ids = lists.get((Kind.CATEGORY, key), ((), ()))[0]
        entry = {"version": pointer.get("version"), "items": list(ids)}
        _cache().set(_category_key(key), entry, int(app_settings.FALLBACK_CACHE_TTL))
    return entry["items"][:limit]


def ranked_item_ids(user_id: int | None, limit: int, exclude: Collection[str] = ()) -> list[str]:
    """Up to `limit` wire ids, best first: personalised for a user with history, else popularity.

    Items the user bought and `exclude` are left out. Empty when no version has been computed yet.
    """
    if limit <= 0:
        return []
    excluded = set(exclude)
    if user_id is None:
        return _first(popular_item_ids(limit + len(excluded)), excluded, limit)
    cache = _cache()
    found = cache.get_many([CURRENT_KEY, _user_key(user_id)])
    pointer = _pointer_from(found.get(CURRENT_KEY))
    entry = _list_entry_from(found.get(_user_key(user_id)), pointer)
    wanted = limit + len(excluded)
    if entry is not None and (entry.get("complete") is True or len(entry["items"]) >= wanted):
        return _first(entry["items"], excluded, limit)
    entry = _personalised(user_id, pointer, max(wanted, USER_CACHED_ITEMS))
    cache.set(_user_key(user_id), entry, int(app_settings.FALLBACK_USER_TTL))
    return _first(entry["items"], excluded, limit)


def forget_user(user_id: int) -> None:
    """Drop a user's cached fallback (after a purchase, so bought items leave it at once)."""
    _cache().delete(_user_key(user_id))


def _first(items: list[str], excluded: set[str], limit: int) -> list[str]:
    return [item for item in items if item not in excluded][:limit]


def _personalised(user_id: int, pointer: dict | None, keep: int) -> dict[str, Any]:
    """Rank for one user: one query for the history, one for the lists it needs."""
    history = get_catalog().user_history(user_id, int(app_settings.FALLBACK_RECENT_ITEMS))
    if history.recent or pointer is None:
        pointer, lists = _load({Kind.POPULAR: [""], Kind.NEIGHBOURS: history.recent})
    else:
        lists = {}
    neighbour_lists = {
        key: value for (kind, key), value in lists.items() if kind == Kind.NEIGHBOURS
    }
    ranked = blend(
        pointer.get("popular", ()),
        pointer.get("scores", ()),
        neighbour_lists,
        history.recent,
        history.purchased,
        float(app_settings.FALLBACK_POPULARITY_WEIGHT),
    )
    return {
        "version": pointer.get("version"),
        "items": ranked[:keep],
        "complete": len(ranked) <= keep,
    }


def _load(
    wanted: dict[str, list[str]],
) -> tuple[dict[str, Any], dict[tuple[str, str], tuple[list[str], list[float]]]]:
    """One query for lists of the current version; refreshes the cached pointer on the way.

    Joining on `is_current` rather than trusting a cached version id means a page never reads
    a version that a refresh has just removed.
    """
    condition = Q()
    for kind, keys in wanted.items():
        if keys:
            condition |= Q(kind=kind, key__in=keys)
    rows = list(
        FallbackRanking.objects.filter(condition, version__is_current=True).values_list(
            "version_id", "kind", "key", "item_ids", "scores"
        )
    )
    lists = {(kind, key): (ids, scores) for _, kind, key, ids, scores in rows}
    version_ids = {row[0] for row in rows}
    if not version_ids:
        # No version yet (or an empty shop): remember that briefly rather than asking every page.
        pointer: dict[str, Any] = {}
        _cache().set(CURRENT_KEY, pointer, NO_VERSION_TTL)
        return pointer, lists
    ids, scores = lists.get((Kind.POPULAR, ""), ([], []))
    pointer = _pointer(version_ids.pop(), ids, scores)
    _cache().set(CURRENT_KEY, pointer, int(app_settings.FALLBACK_CACHE_TTL))
    return pointer, lists
