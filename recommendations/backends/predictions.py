"""What goes to the endpoint and what comes back, independent of transport and wire format.

Re-exported by `recommendations.backends.base`, which is where callers usually import them from.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PredictionRequest:
    """One user's question to the endpoint."""

    user_key: (
        str  # pseudonym (recommendations.tracking.pseudonyms.pseudonym), never the raw primary key
    )
    num_results: int
    exclude: tuple[str, ...] = ()
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.user_key, str) or not self.user_key:
            raise ValueError("user_key must be a non-empty string (a pseudonym)")
        if (
            not isinstance(self.num_results, int)
            or isinstance(self.num_results, bool)
            or self.num_results < 1
        ):
            raise ValueError("num_results must be a positive integer")
        # Accept any iterable of ids but keep the dataclass hashable and the wire format uniform.
        object.__setattr__(self, "exclude", tuple(str(item_id) for item_id in self.exclude))


@dataclass(frozen=True)
class Prediction:
    """One user's ranked answer, already validated item by item."""

    item_ids: tuple[str, ...]  # ranked, validated, deduplicated
    scores: tuple[float, ...]
    model_version: str | None
    prior: bool = False  # the endpoint answered with its popularity prior (unknown user)
    variant: str | None = None  # X-Amzn-Invoked-Production-Variant
    dropped: int = 0  # items of the answer that failed validation (for logs and metrics)
