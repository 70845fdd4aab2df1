"""RP3beta (Paudel et al. 2017): item-item weights from a three-step random walk, popularity damped.

A walk from item i to a user who has it and on to another item j of theirs, each step taken
uniformly, with the transition probabilities raised to `alpha`:
`W_ij = sum_u (X_ui / deg(i)^alpha) (X_uj / deg(u)^alpha)`, then divided by `deg(j)^beta`, so a
popular j needs more evidence. X is the binary users x items matrix; the diagonal is zero.
Fitted without an inversion (one sparse product, written into a dense items x items float32
matrix a block of rows at a time) and served as EASE is: the user's history times W.
"""

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, diags

from ..data.interactions import Interactions
from ..inference.recommender import Recommender
from .ease import GRAM_BLOCK_ROWS, check_memory, item_item_model
from .encoding import encode


@dataclass(frozen=True)
class Rp3BetaParams:
    """RP3beta's hyperparameters: the walk's exponent `alpha`, the popularity damping `beta`."""

    # Starting points of the search: the middle of what it found best on the synthetic presets
    # (alpha 0.5 to 0.7, beta 0.18 to 0.5: docs/model.md); alpha 1 is the plain walk.
    alpha: float = 0.6
    beta: float = 0.3
    max_memory_mb: float = 4096.0
    half_life_days: float = 30.0  # of the popularity prior for unknown users

    def __post_init__(self) -> None:
        if self.alpha <= 0 or self.beta < 0:
            raise ValueError("alpha must be > 0 and beta >= 0")
        if self.max_memory_mb <= 0 or self.half_life_days <= 0:
            raise ValueError("max_memory_mb and half_life_days must be > 0")


def rp3beta_weights(user_items: csr_matrix, alpha: float, beta: float) -> np.ndarray:
    """The item-item weight matrix W (float32, zero diagonal) for a binary users x items matrix."""
    binary = csr_matrix(user_items, dtype=np.float32, copy=True)
    binary.data[:] = 1.0
    user_degree = np.maximum(np.asarray(binary.sum(axis=1)).ravel(), 1.0)
    item_degree = np.maximum(np.asarray(binary.sum(axis=0)).ravel(), 1.0)
    user_to_item = (diags(user_degree ** -np.float32(alpha)) @ binary).tocsr()
    item_to_user = (diags(item_degree ** -np.float32(alpha)) @ binary.T).tocsr()
    damping = (item_degree ** -np.float32(beta)).astype(np.float32)
    n = binary.shape[1]
    weights = np.zeros((n, n), dtype=np.float32)
    for start in range(0, n, GRAM_BLOCK_ROWS):
        stop = min(start + GRAM_BLOCK_ROWS, n)
        weights[start:stop] = (item_to_user[start:stop] @ user_to_item).toarray()
    weights *= damping[np.newaxis, :]
    weights[np.diag_indices(n)] = 0.0
    return weights


def fit_rp3beta(interactions: Interactions, params: Rp3BetaParams | None = None) -> Recommender:
    """Fit RP3beta on the interactions and return the servable model (refuses what won't fit)."""
    params = params or Rp3BetaParams()
    encoded = encode(interactions)
    check_memory(len(encoded.item_ids), params.max_memory_mb, "RP3beta")
    user_items = encoded.user_items()
    weights = rp3beta_weights(user_items, params.alpha, params.beta)
    return item_item_model("rp3beta", encoded, user_items, weights, params)
