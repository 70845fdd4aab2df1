"""ALS: implicit-feedback matrix factorisation (the `implicit` library) plus a popularity prior.

Deterministic: a fixed seed, one ALS thread and one BLAS thread (threadpoolctl), so the same data
and parameters give the same factors and the same `model_version`.
"""

import hashlib
import json
import logging
from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from ..data.interactions import Interactions
from ..inference.recommender import FORMAT, Recommender
from .encoding import EncodedInteractions, decayed_popularity, encode, hash_data

logger = logging.getLogger(__name__)

WEIGHTINGS = ("none", "bm25", "tfidf")


@dataclass(frozen=True)
class TrainingParams:
    """ALS hyperparameters; the defaults fill in what the selection grid keeps fixed (model.md).

    Settings are scored on a validation split carved from the training part only (each user's
    second-newest order), so the test figures are never tuned on.
    """

    factors: int = 12
    regularization: float = 1.0
    alpha: float = 4.0
    iterations: int = 15
    weighting: str = "none"  # "none", "bm25" or "tfidf", applied to the item x user matrix
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    half_life_days: float = 30.0  # of the popularity prior
    seed: int = 42

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}")
        if self.factors < 1 or self.iterations < 1 or self.half_life_days <= 0:
            raise ValueError("factors and iterations must be >= 1, half_life_days > 0")


def model_version(encoded: EncodedInteractions, params: TrainingParams) -> str:
    """A hash of the data (in a canonical row order) and the parameters."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT, **asdict(params)}, sort_keys=True).encode())
    hash_data(digest, encoded)
    return f"als-{digest.hexdigest()[:16]}"


def confidence_matrix(user_items: csr_matrix, params: TrainingParams) -> csr_matrix:
    """The users x items matrix ALS fits: weighted (BM25/TF-IDF over items) and scaled by alpha."""
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    if params.weighting == "bm25":
        weighted = bm25_weight(user_items.T, K1=params.bm25_k1, B=params.bm25_b).T
    elif params.weighting == "tfidf":
        weighted = tfidf_weight(user_items.T).T
    else:
        weighted = user_items
    weighted = csr_matrix(weighted, dtype=np.float32)
    weighted.sort_indices()
    return weighted


def fit(interactions: Interactions, params: TrainingParams | None = None) -> Recommender:
    """Fit ALS on the interactions and return the servable model."""
    from implicit.cpu.als import AlternatingLeastSquares

    params = params or TrainingParams()
    encoded = encode(interactions)
    user_items = encoded.user_items()
    # One BLAS thread too: multi-threaded reductions can change the last bits between runs.
    with threadpool_limits(limits=1, user_api="blas"):
        als = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            random_state=params.seed,
            num_threads=1,
        )
        als.fit(confidence_matrix(user_items, params), show_progress=False)
    seen = csr_matrix(user_items, copy=True)
    logger.info(
        "model fitted",
        extra={
            "users": len(encoded.user_ids),
            "items": len(encoded.item_ids),
            "rows": len(interactions),
        },
    )
    return Recommender(
        kind="als",
        user_ids=encoded.user_ids,
        item_ids=encoded.item_ids,
        user_factors=np.ascontiguousarray(als.user_factors, dtype=np.float32),
        item_factors=np.ascontiguousarray(als.item_factors, dtype=np.float32),
        seen_indptr=seen.indptr.astype(np.int64),
        seen_indices=seen.indices.astype(np.int32),
        prior_scores=decayed_popularity(encoded, params.half_life_days),
        model_version=model_version(encoded, params),
        params=asdict(params),
    )
