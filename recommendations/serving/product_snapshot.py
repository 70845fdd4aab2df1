"""Available products kept by each web process between catalog changes, so that a cached page
usually runs no SQL at all.

A page served from a prefetched entry reads the entry and the catalog's version in one cache
round trip (`get_many`), and looks its products up in this process's snapshot: those earlier pages
loaded (and the ids found not available) under that same version. Unknown ids are loaded in one
query and added.

The version changes for every process when a product is saved or deleted, when the shop sends
`purchase_completed`, or when it calls `catalog_changed()` (after `QuerySet.update()`, raw SQL, a
stock model of its own). It is written when the change commits, so no process snapshots the old
rows under it. A change nobody reports shows at most PRODUCT_SNAPSHOT_SECONDS late (0: load on
every page). Pages without a version (no cache read, the cache down) load their products.
The products are shared by a process's pages: templates treat `item.product` as read-only.
"""

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ..cache import local_state
from ..cache import near as near_cache
from ..conf import app_settings

VERSION_KEY = "recommendations:catalog:version"
# A snapshot that grows past this many ids starts again (a catalog bigger than a page can show).
MAX_IDS = 20_000


# A new snapshot (a new version, or the old one's time is up) loads at most this many of the ids
# the previous one knew in one query, so the next pages do not each query a few.
RELOAD_IDS = 512


@dataclass
class _Snapshot:
    version: int
    taken_at: float  # time.monotonic()
    products: dict[str, Any] = field(default_factory=dict)  # wire id -> product, None: unavailable
    reload: list[str] = field(default_factory=list)  # ids to load with the next page's query


_snapshot: _Snapshot | None = None
_lock = threading.Lock()


def products(catalog: Any, item_ids: Sequence[str], version: int | None) -> dict[str, Any]:
    """Available products for the wire ids, from the snapshot of `version` where it knows them.

    The ids it does not know are loaded with `catalog.products_for_item_ids` (one query).
    With no version, or PRODUCT_SNAPSHOT_SECONDS 0, everything is loaded.
    """
    seconds = float(app_settings.PRODUCT_SNAPSHOT_SECONDS or 0)
    if not version or seconds <= 0:
        return catalog.products_for_item_ids(item_ids)
    snapshot = _current(version, seconds)
    known = snapshot.products
    missing = [item_id for item_id in item_ids if item_id not in known]
    if missing and snapshot.reload:
        with _lock:
            reload, snapshot.reload = snapshot.reload, []
        asked = set(missing)
        missing.extend(item_id for item_id in reload if item_id not in asked)
    found: dict[str, Any] = {}
    if missing:
        found = catalog.products_for_item_ids(missing)
        if len(known) + len(missing) <= MAX_IDS:
            known.update({item_id: found.get(item_id) for item_id in missing})
    shown = {}
    for item_id in item_ids:
        product = found.get(item_id) if item_id in found else known.get(item_id)
        if product is not None:
            shown[item_id] = product
    return shown


def _current(version: int, seconds: float) -> _Snapshot:
    global _snapshot
    now = time.monotonic()
    snapshot = _snapshot
    if _usable(snapshot, version, now, seconds):
        return snapshot  # type: ignore[return-value]  # _usable says it is not None
    with _lock:
        snapshot = _snapshot
        if not _usable(snapshot, version, now, seconds):
            previous = list(snapshot.products)[:RELOAD_IDS] if snapshot else []
            snapshot = _snapshot = _Snapshot(version, now, reload=previous)
        return snapshot  # type: ignore[return-value]


def _usable(snapshot: _Snapshot | None, version: int, now: float, seconds: float) -> bool:
    """Whether `snapshot` is of this version and younger than `seconds`."""
    return (
        snapshot is not None and snapshot.version == version and now - snapshot.taken_at < seconds
    )


def version_for_page(version: Any) -> int | None:
    """The catalog version a page read, or None; a missing one is created for the next pages."""
    if isinstance(version, int) and not isinstance(version, bool) and version > 0:
        return version
    if float(app_settings.PRODUCT_SNAPSHOT_SECONDS or 0) > 0:
        # Never set yet, or the cache lost it: this page loads its products, the next ones share.
        near_cache.add(VERSION_KEY, _new_version(), None)
    return None


def _new_version() -> int:
    # A random integer: django-redis stores integers as digits, which read back without unpickling.
    return secrets.randbits(62) + 1


def forget() -> None:
    """Drop this process's snapshot (the catalog changed here; tests)."""
    global _snapshot
    _snapshot = None


def catalog_changed(using: str | None = None) -> None:
    """Tell every process that availability, prices or names changed: their snapshots start again.

    Call it after changing products without `save()` (`QuerySet.update()`, raw SQL). Inside a
    transaction the new version is written when it commits (`using`: the database alias).
    """
    forget()
    transaction.on_commit(_publish_new_version, using=using)


def _publish_new_version() -> None:
    forget()
    near_cache.store(VERSION_KEY, _new_version(), None)


def _is_product_model(sender: Any) -> bool:
    from ..catalog import get_catalog

    try:
        return sender is get_catalog().get_product_model()
    except Exception:
        return False  # a misconfigured adapter is reported by the system checks, not here


@receiver(post_save, dispatch_uid="recommendations.product_saved")
@receiver(post_delete, dispatch_uid="recommendations.product_deleted")
def _product_changed(sender: Any, using: str | None = None, **kwargs: Any) -> None:
    if _is_product_model(sender):
        catalog_changed(using=using)


def _new_lock_after_fork() -> None:
    # The parent's lock may be held by one of its threads, which the child does not have.
    global _lock
    _lock = threading.Lock()
    forget()


local_state.register(
    "product_snapshot",
    drop=forget,
    settings={"RECOMMENDATIONS", "CACHES", "DATABASES"},
    after_fork=_new_lock_after_fork,
)
