"""The shop's own fallback, ranked offline exactly as the app computes it, to compare models with.

`recommendations.fallback.compute` is the app's numpy/scipy arithmetic (no database, no Django
settings): time-decayed popularity, and the personalised blend of co-purchase neighbours of a
user's recent items with popularity. The settings default to the app's own defaults. Ids are
mapped to integer positions on the way in (the app's tables hold product primary keys) and back.
"""

from dataclasses import dataclass

import numpy as np

from ..data.interactions import Interactions

DECAYED_POPULARITY = "fallback: decayed popularity"
CO_PURCHASE_BLEND = "fallback: co-purchase blend"


def _app_default(name: str, fallback: float) -> float:
    try:
        from recommendations.conf.defaults import DEFAULTS
    except ImportError:  # model/ installed without the app (a training container)
        return fallback
    return float(DEFAULTS.get(name, fallback))  # type: ignore[arg-type]


@dataclass(frozen=True)
class FallbackSettings:
    """The app's FALLBACK_* settings that shape the ranking."""

    half_life_days: float = _app_default("FALLBACK_HALF_LIFE_DAYS", 30.0)
    neighbours: int = int(_app_default("FALLBACK_NEIGHBOURS", 30))
    recent_items: int = int(_app_default("FALLBACK_RECENT_ITEMS", 20))
    popular_items: int = int(_app_default("FALLBACK_POPULAR_ITEMS", 200))
    popularity_weight: float = _app_default("FALLBACK_POPULARITY_WEIGHT", 0.1)


def fallback_available() -> bool:
    """True when the app's fallback arithmetic can be imported."""
    try:
        import recommendations.fallback.compute  # noqa: F401
    except ImportError:
        return False
    return True


def fallback_rankings(
    train: Interactions,
    user_ids: list[str],
    k: int,
    settings: FallbackSettings | None = None,
) -> dict[str, list[list[str]]]:
    """Both fallback rankings for each user, computed from `train` as a refresh at its end would."""
    from recommendations.catalog import InteractionChunk
    from recommendations.fallback.compute import blend, compute_tables

    settings = settings or FallbackSettings()
    item_ids, item_positions = np.unique(train.item_ids, return_inverse=True)
    user_keys, user_positions = np.unique(train.user_ids, return_inverse=True)
    tables = compute_tables(
        [
            InteractionChunk(
                user_positions.astype(np.int64),
                item_positions.astype(np.int64),
                train.weights,
                train.timestamps,
            )
        ],
        {},
        now=float(train.timestamps.max()),
        half_life_days=settings.half_life_days,
        neighbours=settings.neighbours,
    )
    # The app's wire ids are str(pk); here pk = position in item_ids.
    popular, popular_scores = tables.popular(settings.popular_items)
    position = {str(pk): n for n, pk in enumerate(tables.items.tolist())}
    histories = _histories(user_positions, item_positions, train.timestamps)
    user_row = {user: n for n, user in enumerate(user_keys.tolist())}
    decayed, blended = [], []
    for user_id in user_ids:
        recent = histories.get(user_row.get(user_id, -1), [])
        purchased = set(recent)
        neighbour_lists = {
            item: tables.neighbours(position[item])
            for item in recent[: settings.recent_items]
            if item in position
        }
        ranked = blend(
            popular,
            popular_scores,
            neighbour_lists,
            recent[: settings.recent_items],
            purchased,
            settings.popularity_weight,
        )
        blended.append([str(item_ids[int(i)]) for i in ranked[:k]])
        decayed.append([str(item_ids[int(i)]) for i in popular if i not in purchased][:k])
    return {DECAYED_POPULARITY: decayed, CO_PURCHASE_BLEND: blended}


def _histories(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray
) -> dict[int, list[str]]:
    """Each user's distinct items as wire ids, most recent first (the adapter's page-time answer)."""
    order = np.lexsort((-timestamps, users))
    histories: dict[int, list[str]] = {}
    seen: dict[int, set[str]] = {}
    for user, item in zip(users[order].tolist(), items[order].tolist(), strict=True):
        wire = str(item)
        if wire not in seen.setdefault(user, set()):
            seen[user].add(wire)
            histories.setdefault(user, []).append(wire)
    return histories
