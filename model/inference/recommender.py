"""The fitted model: its scoring arrays, what each user already has, a popularity prior; ranking.

Two ways score a known user's items: "als" (user factors times item factors) and the item-item
kinds, "ease", "dlae" and "rp3beta" (the user's history times an items x items weight
matrix; the history is the stored seen CSR rows, so the model answers from user ids alone, as
the wire protocol sends them). Saved as plain arrays
(`model.npz`, loaded with allow_pickle=False) and a small `model.json` naming the kind, so serving
needs numpy only, not the training library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ARRAYS_FILE = "model.npz"
METADATA_FILE = "model.json"
FORMAT = 1
# Kinds scored as the user's binary history times an items x items matrix (`item_weights`).
ITEM_ITEM_KINDS = ("ease", "dlae", "rp3beta")
KINDS = ("als", *ITEM_ITEM_KINDS)
# Users scored per block in batch (evaluation) scoring: bounds the users x items dense block.
SCORE_BLOCK_USERS = 1024


@dataclass(frozen=True)
class Ranking:
    """Ranked items for one user; `prior` is true when the popularity prior answered."""

    items: list[tuple[str, float]]
    prior: bool


@dataclass
class Recommender:
    """An ALS or item-item model with a popularity prior for users it has never seen."""

    user_ids: np.ndarray  # str, sorted; row i of user_factors and of the seen CSR
    item_ids: np.ndarray  # str, sorted; row j of item_factors, row and column j of item_weights
    seen_indptr: np.ndarray  # int64, CSR rows of the items each user interacted with
    seen_indices: np.ndarray  # int32
    prior_scores: np.ndarray  # float32 (items,), time-decayed popularity scaled to 0..1
    model_version: str
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "als"
    user_factors: np.ndarray | None = None  # als: float32 (users, factors)
    item_factors: np.ndarray | None = None  # als: float32 (items, factors)
    item_weights: np.ndarray | None = None  # item-item kinds: float32 (items, items)

    def __post_init__(self) -> None:
        if self.kind == "als":
            if self.user_factors is None or self.item_factors is None:
                raise ValueError("an als model needs user_factors and item_factors")
        elif self.kind in ITEM_ITEM_KINDS:
            if self.item_weights is None or self.item_weights.shape != (
                len(self.item_ids),
                len(self.item_ids),
            ):
                raise ValueError(f"an {self.kind} model needs an items x items item_weights matrix")
        else:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {KINDS}")
        self._user_index = {user_id: i for i, user_id in enumerate(self.user_ids.tolist())}
        self._item_index = {item_id: j for j, item_id in enumerate(self.item_ids.tolist())}
        # Stable sort: ties in popularity keep item id order, so the prior is deterministic.
        self._prior_order = np.argsort(-self.prior_scores, kind="stable")
        self._item_ids_list: list[str] = self.item_ids.tolist()

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def knows_user(self, user_id: str) -> bool:
        """True when the user was in the training data."""
        return user_id in self._user_index

    def recommend(self, user_id: str, num_results: int, exclude: tuple[str, ...] = ()) -> Ranking:
        """Top `num_results` items for one user, leaving out what they have and `exclude`."""
        return self.recommend_many([(user_id, num_results, exclude)])[0]

    def recommend_many(self, requests: list[tuple[str, int, tuple[str, ...]]]) -> list[Ranking]:
        """Rankings for (user_id, num_results, exclude) requests, in order."""
        rankings = []
        for user_id, num_results, exclude in requests:
            row = self._user_index.get(user_id)
            if row is None:
                rankings.append(self._popular(num_results, exclude))
            else:
                # One user at a time rather than one product for the batch: BLAS sums in
                # another order for a matrix, and a user's scores must not depend on which batch
                # they came in (prefetched and inline answers have to agree).
                rankings.append(self._personal(row, self._user_scores(row), num_results, exclude))
        return rankings

    def _user_scores(self, row: int) -> np.ndarray:
        """A fresh float32 score per item for the known user at `row`."""
        if self.kind in ITEM_ITEM_KINDS:
            assert self.item_weights is not None
            seen = self.seen_items(row)
            # Item-item scores = the user's binary history row times B: the sum of B's seen rows.
            return self.item_weights[seen].sum(axis=0, dtype=np.float32)
        assert self.item_factors is not None and self.user_factors is not None
        return self.item_factors @ self.user_factors[row]

    def top_item_indices(self, user_rows: np.ndarray, k: int) -> np.ndarray:
        """Item indices of the top `k` unseen items per user row (for evaluation); -1 pads."""
        blocks = [np.empty((0, k), dtype=np.int64)]
        for start in range(0, len(user_rows), SCORE_BLOCK_USERS):
            rows = user_rows[start : start + SCORE_BLOCK_USERS]
            scores = np.stack([self._user_scores(int(row)) for row in rows])
            for n, row in enumerate(rows):
                scores[n, self.seen_items(int(row))] = -np.inf
            blocks.append(_top_k(scores, k))
        return np.concatenate(blocks)

    def seen_items(self, row: int) -> np.ndarray:
        """Item indices the user at `row` interacted with in the training data."""
        return self.seen_indices[self.seen_indptr[row] : self.seen_indptr[row + 1]]

    def _personal(
        self, row: int, scores: np.ndarray, num_results: int, exclude: tuple[str, ...]
    ) -> Ranking:
        scores[self.seen_items(row)] = -np.inf
        excluded = [self._item_index[i] for i in exclude if i in self._item_index]
        if excluded:
            scores[excluded] = -np.inf
        top = _top_k_of_row(scores, num_results)
        item_ids = self._item_ids_list
        top_scores = scores[top].tolist()
        # Indexed rather than zip(strict=True), which Python 3.9 (the framework image) lacks.
        items = [(item_ids[j], round(top_scores[n], 6)) for n, j in enumerate(top.tolist())]
        return Ranking(items=items, prior=False)

    def _popular(self, num_results: int, exclude: tuple[str, ...]) -> Ranking:
        excluded = set(exclude)
        items: list[tuple[str, float]] = []
        for j in self._prior_order[: num_results + len(excluded)]:
            item_id = self._item_ids_list[j]
            if item_id in excluded:
                continue
            items.append((item_id, round(float(self.prior_scores[j]), 6)))
            if len(items) == num_results:
                break
        return Ranking(items=items, prior=True)

    def save(self, model_dir: Path | str) -> None:
        """Write `model.npz` and `model.json` into `model_dir`."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        scoring = (
            {"item_weights": self.item_weights}
            if self.kind in ITEM_ITEM_KINDS
            else {"user_factors": self.user_factors, "item_factors": self.item_factors}
        )
        np.savez(
            model_dir / ARRAYS_FILE,
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            seen_indptr=self.seen_indptr,
            seen_indices=self.seen_indices,
            prior_scores=self.prior_scores,
            **scoring,
        )
        metadata = {
            "format": FORMAT,
            "kind": self.kind,
            "model_version": self.model_version,
            "num_users": self.num_users,
            "num_items": self.num_items,
            "params": self.params,
        }
        (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))

    @classmethod
    def load(cls, model_dir: Path | str) -> Recommender:
        """Read a model written by `save`."""
        model_dir = Path(model_dir)
        metadata = json.loads((model_dir / METADATA_FILE).read_text())
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{model_dir}: unsupported model format {metadata.get('format')!r}")
        # Models saved before EASE existed have no "kind": they are ALS.
        kind = metadata.get("kind", "als")
        if kind not in KINDS:
            raise ValueError(f"{model_dir}: unsupported model kind {kind!r}")
        with np.load(model_dir / ARRAYS_FILE, allow_pickle=False) as arrays:
            names = (
                ("item_weights",) if kind in ITEM_ITEM_KINDS else ("user_factors", "item_factors")
            )
            scoring = {name: arrays[name] for name in names}
            return cls(
                kind=kind,
                **scoring,
                user_ids=arrays["user_ids"],
                item_ids=arrays["item_ids"],
                seen_indptr=arrays["seen_indptr"],
                seen_indices=arrays["seen_indices"],
                prior_scores=arrays["prior_scores"],
                model_version=metadata["model_version"],
                params=metadata.get("params", {}),
            )


def _top_k_of_row(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` best finite scores of one row, best first (ties: lower index first)."""
    candidates = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    candidate_scores = scores[candidates]
    top = candidates[np.lexsort((candidates, -candidate_scores))]
    return top[np.isfinite(scores[top])]


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the `k` best finite scores per row, best first; -1 where fewer exist."""
    rows, columns = scores.shape
    k_eff = min(k, columns)
    if k_eff < columns:
        candidates = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    else:
        candidates = np.tile(np.arange(columns), (rows, 1))
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    # Sort by score descending, then by item index, so equal scores rank deterministically.
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    top = np.take_along_axis(candidates, order, axis=1)
    top_scores = np.take_along_axis(candidate_scores, order, axis=1)
    top = np.where(np.isfinite(top_scores), top, -1)
    if k_eff < k:
        top = np.pad(top, ((0, 0), (0, k - k_eff)), constant_values=-1)
    return top
