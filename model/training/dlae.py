"""DLAE (Steck 2020, "Autoencoders that don't overfit towards the identity").

A linear autoencoder trained with dropout of rate p on its input is, in expectation, a closed
form like EASE's with a penalty on the diagonal that grows with each item's count:
`Lambda = lambda I + p / (1 - p) diag(X^T X)`, `P = (X^T X + Lambda)^-1`, `B = I - P Lambda`.
Popular items are penalised more, so the model leans less on them than EASE does. It fits and
serves as EASE does (ease.py): one dense items x items float32 matrix, the same memory check and
refusal. (EDLAE, the same Lambda in EASE's zero-diagonal form, did not beat EASE on the
synthetic presets and is left out: docs/model.md.)
"""

from dataclasses import dataclass

from ..data.interactions import Interactions
from ..inference.recommender import Recommender
from .ease import check_memory, ease_weights, item_item_model
from .encoding import encode


@dataclass(frozen=True)
class DlaeParams:
    """DLAE's hyperparameters: the L2 weight `regularization` (lambda), the dropout rate, and
    EASE's other settings."""

    # Starting points of the search: the middle of what it found best on the synthetic presets
    # (lambda 80 to 250, dropout 0.25 to 0.9: docs/model.md).
    regularization: float = 150.0
    dropout: float = 0.5
    max_memory_mb: float = 4096.0
    threads: int = 0  # BLAS threads for the inversion; 0 = every core this process may use
    half_life_days: float = 30.0  # of the popularity prior for unknown users

    def __post_init__(self) -> None:
        if self.regularization <= 0 or self.max_memory_mb <= 0 or self.half_life_days <= 0:
            raise ValueError("regularization, max_memory_mb and half_life_days must be > 0")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if self.threads < 0:
            raise ValueError("threads must be >= 0")


def fit_dlae(interactions: Interactions, params: DlaeParams | None = None) -> Recommender:
    """Fit DLAE on the interactions and return the servable model (refuses what won't fit)."""
    params = params or DlaeParams()
    encoded = encode(interactions)
    check_memory(len(encoded.item_ids), params.max_memory_mb, "DLAE")
    user_items = encoded.user_items()
    weights = ease_weights(
        user_items,
        params.regularization,
        params.threads,
        dropout=params.dropout,
        zero_diagonal=False,
    )
    return item_item_model("dlae", encoded, user_items, weights, params)
