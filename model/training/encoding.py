"""Interactions as indices, the encoding ALS and EASE share, and what both derive from it.

Users and items are indexed by their sorted ids; `data_digest` and `decayed_popularity` (the
popularity prior) are computed on that encoding by every model type.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from ..data.interactions import Interactions

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class EncodedInteractions:
    """Interactions with ids replaced by row/column indices into sorted id arrays."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_rows: np.ndarray
    item_columns: np.ndarray
    weights: np.ndarray
    timestamps: np.ndarray

    def user_items(self) -> csr_matrix:
        """Users x items, summed weights (a repeated purchase adds up)."""
        matrix = csr_matrix(
            (self.weights.astype(np.float32), (self.user_rows, self.item_columns)),
            shape=(len(self.user_ids), len(self.item_ids)),
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        return matrix


def encode(interactions: Interactions) -> EncodedInteractions:
    """Index users and items by their sorted ids."""
    user_ids, user_rows = np.unique(interactions.user_ids, return_inverse=True)
    item_ids, item_columns = np.unique(interactions.item_ids, return_inverse=True)
    return EncodedInteractions(
        user_ids,
        item_ids,
        user_rows.astype(np.int32),
        item_columns.astype(np.int32),
        interactions.weights,
        interactions.timestamps,
    )


def data_digest(encoded: EncodedInteractions) -> str:
    """A hash of the data alone, independent of row order."""
    digest = hashlib.sha256()
    hash_data(digest, encoded)
    return digest.hexdigest()


def hash_data(digest: Any, encoded: EncodedInteractions) -> None:
    """Feed the data, in a canonical row order, to `digest` (a hashlib object)."""
    order = np.lexsort(
        (encoded.weights, encoded.item_columns, encoded.user_rows, encoded.timestamps)
    )
    for ids in (encoded.user_ids, encoded.item_ids):
        digest.update("\n".join(ids.tolist()).encode())
        digest.update(b"\0")
    for array, dtype in (
        (encoded.user_rows, np.int32),
        (encoded.item_columns, np.int32),
        (encoded.weights, np.float32),
        (encoded.timestamps, np.float64),
    ):
        digest.update(np.ascontiguousarray(array[order], dtype=dtype).tobytes())


def decayed_popularity(encoded: EncodedInteractions, half_life_days: float) -> np.ndarray:
    """Per-item weight, halved every `half_life_days` before the newest interaction; 0..1."""
    newest = float(encoded.timestamps.max()) if len(encoded.timestamps) else 0.0
    age_days = (newest - encoded.timestamps) / SECONDS_PER_DAY
    decayed = encoded.weights * np.power(0.5, age_days / half_life_days)
    scores = np.bincount(encoded.item_columns, weights=decayed, minlength=len(encoded.item_ids))
    top = scores.max() if len(scores) else 0.0
    return (scores / top if top > 0 else scores).astype(np.float32)
