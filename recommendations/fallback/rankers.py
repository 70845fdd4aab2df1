"""The fallback's strategies: rankers tried in order until the widget is full.

`FALLBACK_RANKERS` lists them by dotted path, best first (a chain in the manner of LensKit's
`FallbackScorer`): the page takes the model's items, then asks each ranker in turn for more only
while it still has too few, after what may be shown (`serving/visibility.py`) and what is
available. A second strategy is a `Ranker` subclass and a line in the setting.
"""

from collections.abc import Collection
from functools import lru_cache

from django.utils.module_loading import import_string

from ..catalog import get_catalog
from ..conf import app_settings
from . import store


class Ranker:
    """One fallback strategy."""

    def rank(self, user_id: int | None, limit: int, exclude: Collection[str]) -> list[str]:
        """Up to `limit` wire ids for this user (None: anonymous), best first, none in `exclude`."""
        raise NotImplementedError


class StoredRanking(Ranker):
    """The computed fallback (`store.py`): co-purchase neighbours blended with popularity for a
    user with history, popularity otherwise; nothing before the first refresh."""

    def rank(self, user_id: int | None, limit: int, exclude: Collection[str]) -> list[str]:
        """`store.ranked_item_ids`, at most two queries on a cold cache, none on a warm one."""
        return store.ranked_item_ids(user_id, limit, exclude=exclude)


class NewestProducts(Ranker):
    """The last resort: the newest available products (no fallback computed yet, or every other
    candidate filtered out). One query."""

    def rank(self, user_id: int | None, limit: int, exclude: Collection[str]) -> list[str]:
        """The newest available products by primary key."""
        catalog = get_catalog()
        newest = catalog.available_products().order_by("-pk")[: limit + len(exclude)]
        ids = (catalog.item_id(product) for product in newest)
        return [item_id for item_id in ids if item_id not in exclude][:limit]


@lru_cache(maxsize=8)
def _rankers(paths: tuple[str, ...]) -> tuple[Ranker, ...]:
    return tuple(import_string(path)() for path in paths)


def rankers() -> tuple[Ranker, ...]:
    """The configured rankers, in order (made once per value of FALLBACK_RANKERS)."""
    return _rankers(tuple(app_settings.FALLBACK_RANKERS))
