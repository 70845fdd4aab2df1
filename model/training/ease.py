"""EASE (Steck 2019): a closed-form item-item model, `B = I - P diag(1/diag(P))`, zero diagonal.

`P = (X^T X + lambda I)^-1` for the binary users x items matrix X. The same closed form with a
dropout-derived penalty on the diagonal gives DLAE (dlae.py). The fit keeps one dense
items x items float32 matrix and works on it in place: the Gram matrix is written into it block by
block, LAPACK's Cholesky factorisation (spotrf) and inverse (spotri) overwrite it, and B is scaled
out of P in the same memory. That matrix is the cost: `items^2 * 4` bytes, checked against
`max_memory_mb` before anything is allocated.
"""

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.linalg import lapack
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from ..data.interactions import DataError, Interactions
from ..inference.recommender import FORMAT, Recommender
from .encoding import EncodedInteractions, data_digest, decayed_popularity, encode

logger = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024
# Dense n x n float32 matrices alive at the peak: the one inverted in place, plus a margin for the
# Gram and symmetrisation blocks. bench/training.py measured 1.04 at 20,000 items (1,589 MB over
# the process's 290 MB); counting a whole second copy would refuse catalogues that fit.
MATRIX_COPIES = 1.1
# Gram matrix rows computed per sparse product: bounds the sparse intermediate.
GRAM_BLOCK_ROWS = 1024
SYMMETRISE_BLOCK = 1024


@dataclass(frozen=True)
class EaseParams:
    """EASE's hyperparameters: the L2 weight `regularization` (lambda) and the memory it may use."""

    regularization: float = 250.0
    max_memory_mb: float = 4096.0
    threads: int = 0  # BLAS threads for the inversion; 0 = every core this process may use
    half_life_days: float = 30.0  # of the popularity prior for unknown users

    def __post_init__(self) -> None:
        if self.regularization <= 0 or self.max_memory_mb <= 0 or self.half_life_days <= 0:
            raise ValueError("regularization, max_memory_mb and half_life_days must be > 0")
        if self.threads < 0:
            raise ValueError("threads must be >= 0")


def memory_needed_mb(num_items: int) -> float:
    """Megabytes the fit needs for `num_items` items (the dense float32 matrices at the peak)."""
    return num_items * num_items * 4 * MATRIX_COPIES / MEGABYTE


def check_memory(num_items: int, max_memory_mb: float, model: str = "EASE") -> None:
    """Raise DataError when an items x items matrix for `num_items` does not fit `max_memory_mb`."""
    needed = memory_needed_mb(num_items)
    if needed > max_memory_mb:
        largest = int(np.sqrt(max_memory_mb * MEGABYTE / (4 * MATRIX_COPIES)))
        raise DataError(
            f"{model} needs about {needed:,.0f} MB for {num_items:,} items (a dense "
            f"{num_items:,} x {num_items:,} float32 matrix), over the limit of "
            f"{max_memory_mb:,.0f} MB (--max-memory-mb); with that limit EASE fits at most "
            f"{largest:,} items: raise the limit or use ALS"
        )


def ease_weights(
    user_items: csr_matrix,
    regularization: float,
    threads: int = 0,
    timings: dict[str, float] | None = None,
    dropout: float = 0.0,
    zero_diagonal: bool = True,
) -> np.ndarray:
    """The item-item weight matrix B (float32) for a binary users x items matrix.

    `dropout` p adds `p / (1 - p)` times each item's count to its penalty (Steck 2020's
    Lambda); `zero_diagonal` False gives DLAE's `B = I - P Lambda` instead of EASE's
    zero-diagonal form (with dropout, the zero-diagonal form is Steck's EDLAE). `timings`, when given, receives the seconds of each phase (gram,
    cholesky, inverse, scale).
    """
    clock = _PhaseClock(timings)
    binary = csr_matrix(user_items, dtype=np.float32, copy=True)
    binary.data[:] = 1.0
    n = binary.shape[1]
    # Fortran order: LAPACK works on it in place; the matrix is symmetric, so rows = columns.
    matrix = np.zeros((n, n), dtype=np.float32, order="F")
    by_item = binary.T.tocsr()
    for start in range(0, n, GRAM_BLOCK_ROWS):
        stop = min(start + GRAM_BLOCK_ROWS, n)
        # Rows start..stop of X^T X are columns start..stop too (symmetry): a contiguous slice.
        block = (by_item[start:stop] @ binary).toarray()
        matrix[:, start:stop] = block.T
        del block
    # Lambda: the L2 weight plus dropout's penalty, which grows with how often the item occurs.
    penalty = (regularization + dropout / (1.0 - dropout) * matrix.diagonal()).astype(np.float32)
    matrix[np.diag_indices(n)] += penalty
    clock.lap("gram")
    with threadpool_limits(limits=threads or len(os.sched_getaffinity(0)), user_api="blas"):
        factor, info = lapack.spotrf(matrix, lower=0, overwrite_a=1, clean=0)
        if info != 0:
            raise DataError(f"EASE: Cholesky factorisation failed (LAPACK info {info})")
        clock.lap("cholesky")
        inverse, info = lapack.spotri(factor, lower=0, overwrite_c=1)
        if info != 0:
            raise DataError(f"EASE: inversion failed (LAPACK info {info})")
        clock.lap("inverse")
    if not np.shares_memory(inverse, matrix):  # LAPACK had to copy: keep working on its result
        matrix = inverse
    del factor, inverse
    _mirror_upper_triangle(matrix)
    if zero_diagonal:
        diagonal = matrix.diagonal().copy()
        # B = I - P diag(1/diag(P)): off the diagonal B_ij = -P_ij / P_jj; the diagonal is 0.
        matrix /= -diagonal[np.newaxis, :]
        matrix[np.diag_indices(n)] = 0.0
    else:
        # B = I - P Lambda: B_ij = -P_ij Lambda_jj off the diagonal, 1 - P_jj Lambda_jj on it.
        matrix *= -penalty[np.newaxis, :]
        matrix[np.diag_indices(n)] += 1.0
    clock.lap("scale")
    return matrix


class _PhaseClock:
    """Seconds per phase into a dict, when the caller asked for them."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[phase] = round(now - self.last, 3)
        self.last = now


def _mirror_upper_triangle(matrix: np.ndarray) -> None:
    """Copy the upper triangle onto the lower (spotri fills one triangle), a block at a time."""
    n = matrix.shape[0]
    for start in range(0, n, SYMMETRISE_BLOCK):
        stop = min(start + SYMMETRISE_BLOCK, n)
        # Lower part of columns start..stop = transpose of the upper part of rows start..stop.
        matrix[stop:, start:stop] = matrix[start:stop, stop:].T
        diagonal_block = matrix[start:stop, start:stop]
        matrix[start:stop, start:stop] = np.triu(diagonal_block) + np.triu(diagonal_block, 1).T


def model_version(interactions_digest: str, params: Any, kind: str = "ease") -> str:
    """A hash of the data digest, the kind and the parameters that change the model."""
    described = {"format": FORMAT, "kind": kind, **asdict(params)}
    # Neither changes the weights: the same data and lambda give the same model.
    described.pop("max_memory_mb", None)
    described.pop("threads", None)
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    digest.update(interactions_digest.encode())
    return f"{kind}-{digest.hexdigest()[:16]}"


def item_item_model(
    kind: str,
    encoded: EncodedInteractions,
    user_items: csr_matrix,
    weights: np.ndarray,
    params: Any,
) -> Recommender:
    """The servable model of an items x items weight matrix: scored as history times weights."""
    logger.info(
        "item-item model fitted",
        extra={"kind": kind, "users": len(encoded.user_ids), "items": len(encoded.item_ids)},
    )
    return Recommender(
        kind=kind,
        user_ids=encoded.user_ids,
        item_ids=encoded.item_ids,
        item_weights=weights,
        seen_indptr=user_items.indptr.astype(np.int64),
        seen_indices=user_items.indices.astype(np.int32),
        prior_scores=decayed_popularity(encoded, params.half_life_days),
        model_version=model_version(data_digest(encoded), params, kind),
        params=asdict(params),
    )


def fit_ease(
    interactions: Interactions,
    params: EaseParams | None = None,
    timings: dict[str, float] | None = None,
) -> Recommender:
    """Fit EASE on the interactions and return the servable model (refuses what won't fit)."""
    params = params or EaseParams()
    encoded = encode(interactions)
    check_memory(len(encoded.item_ids), params.max_memory_mb)
    user_items = encoded.user_items()
    weights = ease_weights(user_items, params.regularization, params.threads, timings)
    return item_item_model("ease", encoded, user_items, weights, params)
