"""The fallback ranking's arithmetic: popularity and co-purchase neighbours from numpy arrays.

Nothing here touches the database or the cache, so the same code ranks at refresh time, at page
time and in offline evaluation. The history arrives as `InteractionChunk`s and is only ever held
as numpy arrays (about 20 bytes per interaction line), never as Python objects per line.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from ..catalog import InteractionChunk

SECONDS_PER_DAY = 86_400.0
# Upper bound of co-occurrence entries materialised at once while finding neighbours; bounds memory
# (about 50 bytes each while sorting) however large the catalogue grows.
BLOCK_ENTRIES = 2_000_000
# Ids up to this many times the lines (plus DENSE_IDS_MIN) are mapped by a table indexed by id.
DENSE_IDS_FACTOR = 4
DENSE_IDS_MIN = 1_000_000
# Each step down a user's recent items counts this much less in the personalised score.
RECENCY_FACTOR = 0.85


@dataclass
class FallbackTables:
    """The result of one computation, indexed by position in `items` (sorted product pks)."""

    items: np.ndarray  # int64 product pks
    popularity: np.ndarray  # float64 time-decayed weighted count per item
    neighbour_index: np.ndarray  # int32 (items x K), positions in `items`, -1 where fewer than K
    neighbour_score: np.ndarray  # float32 (items x K), cosine similarity, best first
    categories: dict[str, np.ndarray] = field(default_factory=dict)  # key -> positions, best first
    interactions: int = 0
    users: int = 0

    def popular(self, limit: int) -> tuple[list[str], list[float]]:
        """The `limit` most popular items as wire ids with their scores."""
        order = _top(self.popularity, limit)
        return self._wire(order), self.popularity[order].tolist()

    def category_popular(self, key: str, limit: int) -> tuple[list[str], list[float]]:
        """The `limit` most popular items of one category."""
        order = self.categories.get(key, np.empty(0, dtype=np.int64))[:limit]
        return self._wire(order), self.popularity[order].tolist()

    def neighbours(self, position: int) -> tuple[list[str], list[float]]:
        """Neighbours of the item at `position`, best first."""
        index = self.neighbour_index[position]
        keep = index >= 0
        return self._wire(index[keep]), self.neighbour_score[position][keep].tolist()

    def _wire(self, positions: np.ndarray) -> list[str]:
        return [str(pk) for pk in self.items[positions].tolist()]


def _top(values: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the `limit` largest positive values, largest first (ties by position)."""
    candidates = np.flatnonzero(values > 0)
    if len(candidates) > limit:
        candidates = candidates[np.argpartition(-values[candidates], limit - 1)[:limit]]
    return candidates[np.lexsort((candidates, -values[candidates]))]


def compute_tables(
    chunks: Iterable[InteractionChunk],
    item_categories: Mapping[int, Any],
    *,
    now: float,
    half_life_days: float,
    neighbours: int,
    progress: Callable[[int], None] | None = None,
) -> FallbackTables:
    """Popularity (decayed to `now`, epoch seconds), per-category order and top-K neighbours."""
    user_parts: list[np.ndarray] = []
    item_parts: list[np.ndarray] = []
    weight_parts: list[np.ndarray] = []
    half_life = max(half_life_days, 1e-6) * SECONDS_PER_DAY
    for chunk in chunks:
        if not len(chunk.item_ids):
            continue
        # Lines dated after `now` (clock skew) count as new, not as more than new.
        age = np.maximum(now - np.asarray(chunk.timestamps, dtype=np.float64), 0.0)
        decayed = np.asarray(chunk.weights, dtype=np.float32) * np.exp2(-age / half_life)
        user_parts.append(np.asarray(chunk.user_ids, dtype=np.int64))
        item_parts.append(np.asarray(chunk.item_ids, dtype=np.int64))
        weight_parts.append(decayed.astype(np.float32))
        if progress is not None:
            progress(len(chunk.item_ids))
    if not item_parts:
        empty = np.empty((0, neighbours))
        return FallbackTables(
            items=np.empty(0, dtype=np.int64),
            popularity=np.empty(0),
            neighbour_index=empty.astype(np.int32),
            neighbour_score=empty.astype(np.float32),
        )
    items, item_pos = _positions(item_parts)
    del item_parts
    users, user_pos = _positions(user_parts)
    del user_parts
    weights = np.concatenate(weight_parts)
    del weight_parts
    popularity = np.bincount(item_pos, weights=weights, minlength=len(items))
    del weights
    # Who bought what, once per user and item: repeat purchases of one item say nothing about
    # which other items go with it.
    bought = sparse.csr_matrix(
        (np.ones(len(item_pos), dtype=np.float32), (user_pos, item_pos)),
        shape=(len(users), len(items)),
    )
    interactions = len(item_pos)
    del user_pos, item_pos
    bought.sum_duplicates()
    bought.data[:] = 1.0
    neighbour_index, neighbour_score = _cosine_neighbours(bought, neighbours)
    return FallbackTables(
        items=items,
        popularity=popularity,
        neighbour_index=neighbour_index,
        neighbour_score=neighbour_score,
        categories=_category_order(items, popularity, item_categories),
        interactions=interactions,
        users=len(users),
    )


def _positions(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct ids of `parts`, and each id's position among them (np.unique's pair).

    Primary keys are mostly dense small numbers: then a table indexed by id finds every position
    in one pass, where np.unique sorts all the ids (8 s and 300 MB more at 10M lines).
    """
    low = min(int(part.min()) for part in parts)
    high = max(int(part.max()) for part in parts)
    count = sum(len(part) for part in parts)
    if low < 0 or high > DENSE_IDS_FACTOR * count + DENSE_IDS_MIN:
        distinct, positions = np.unique(np.concatenate(parts), return_inverse=True)
        return distinct, positions.astype(np.int32 if len(distinct) < 2**31 else np.int64)
    present = np.zeros(high + 1, dtype=bool)
    for part in parts:
        present[part] = True
    distinct = np.flatnonzero(present).astype(np.int64)
    index_type = np.int32 if len(distinct) < 2**31 else np.int64
    position_of = np.cumsum(present, dtype=index_type) - 1
    del present
    positions = np.concatenate([position_of[part] for part in parts])
    return distinct, positions


def _cosine_neighbours(bought: sparse.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k items by cosine of their buyer sets, computed a block of items at a time.

    Cosine divides the number of common buyers by the geometric mean of both items' buyers, which
    keeps best-sellers from being everybody's neighbour.
    """
    n_items = bought.shape[1]
    neighbour_index = np.full((n_items, k), -1, dtype=np.int32)
    neighbour_score = np.zeros((n_items, k), dtype=np.float32)
    if n_items == 0 or k == 0:
        return neighbour_index, neighbour_score
    by_item = bought.T.tocsr()  # items x users
    norms = np.sqrt(np.asarray(by_item.sum(axis=1)).ravel())
    # Upper bound of each item's co-occurrence row: the summed basket sizes of its buyers.
    basket = np.asarray(bought.sum(axis=1)).ravel()
    bound_total = np.cumsum(by_item @ basket)
    start = 0
    while start < n_items:
        done = bound_total[start - 1] if start else 0.0
        stop = max(int(np.searchsorted(bound_total, done + BLOCK_ENTRIES, side="right")), start + 1)
        together = (by_item[start:stop] @ bought).tocsr()  # block x items, common buyers
        _keep_top(together, start, norms, k, neighbour_index, neighbour_score)
        start = stop
    return neighbour_index, neighbour_score


def _keep_top(
    together: sparse.csr_matrix,
    offset: int,
    norms: np.ndarray,
    k: int,
    neighbour_index: np.ndarray,
    neighbour_score: np.ndarray,
) -> None:
    """Write the k best cosine neighbours of each row of a block into the output arrays."""
    rows = np.repeat(np.arange(together.shape[0]), np.diff(together.indptr))
    columns = together.indices
    score = together.data / (norms[rows + offset] * norms[columns])
    score[columns == rows + offset] = 0.0  # an item is not its own neighbour
    # Sort by row, then best score first, then item position, so ties break the same every time.
    order = np.lexsort((columns, -score, rows))
    # Rows are the primary sort key and CSR rows are contiguous, so rank = place within the row.
    rank = np.arange(len(order)) - together.indptr[rows[order]]
    selected = (rank < k) & (score[order] > 0)
    keep = order[selected]
    neighbour_index[rows[keep] + offset, rank[selected]] = columns[keep]
    neighbour_score[rows[keep] + offset, rank[selected]] = score[keep]


def _category_order(
    items: np.ndarray, popularity: np.ndarray, item_categories: Mapping[int, Any]
) -> dict[str, np.ndarray]:
    """Positions of each category's items, most popular first."""
    keys = [item_categories.get(pk) for pk in items.tolist()]
    by_category: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        if key is not None and popularity[position] > 0:
            by_category.setdefault(str(key), []).append(position)
    ordered = {}
    for key, positions in by_category.items():
        array = np.asarray(positions, dtype=np.int64)
        ordered[key] = array[np.lexsort((array, -popularity[array]))]
    return ordered


def blend(
    popular: Sequence[str],
    popular_scores: Sequence[float],
    neighbour_lists: Mapping[str, tuple[Sequence[str], Sequence[float]]],
    recent: Sequence[str],
    purchased: Collection[str],
    popularity_weight: float,
) -> list[str]:
    """A personalised ranking: neighbours of the recent items (newest counts most) plus popularity.

    Both parts are scaled to 0..1 before blending, so `popularity_weight` means the same on any
    shop; items the user bought are left out.
    """
    personal: dict[str, float] = {}
    weight = 1.0
    for item in recent:
        ids, scores = neighbour_lists.get(item, ((), ()))
        for other, score in zip(ids, scores, strict=True):
            personal[other] = personal.get(other, 0.0) + weight * score
        weight *= RECENCY_FACTOR
    combined: dict[str, float] = {}
    top_personal = max(personal.values(), default=0.0)
    if top_personal > 0:
        combined = {item: score / top_personal for item, score in personal.items()}
    top_popular = popular_scores[0] if popular_scores else 0.0
    if top_popular > 0:
        for item, score in zip(popular, popular_scores, strict=True):
            combined[item] = combined.get(item, 0.0) + popularity_weight * score / top_popular
    ranked = sorted(combined.items(), key=lambda pair: -pair[1])
    return [item for item, _ in ranked if item not in purchased]
