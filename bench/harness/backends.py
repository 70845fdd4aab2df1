"""A bench-only backend for the fallback-only reference page of bench/outage.py."""

from collections.abc import Sequence

from recommendations.backends.base import Backend, Prediction, PredictionRequest


class NothingToRecommend(Backend):
    """A model with nothing to recommend: an empty answer for every user, with no network at all.

    The first page view of a user stores the empty answer like any prefetched entry; every later
    view is the usual single cache read followed by the local fallback ranking, which is what a
    shop serves when the model contributes nothing and nothing is failing.
    """

    name = "nothing"

    def recommend_many(
        self,
        requests: Sequence[PredictionRequest],
        *,
        purpose: str = "page",
        target_variant: str | None = None,
    ) -> list[Prediction]:
        """An empty prediction for each request."""
        return [Prediction(item_ids=(), scores=(), model_version=None) for _ in requests]
