"""SageMaker inference handler: the four functions a framework container calls.

`model_fn(model_dir)` once per worker, then per request `input_fn(body, content_type)`,
`predict_fn(data, model)` and `output_fn(prediction, accept)`. Bad input raises an
`InferenceError` subclass (model/protocol.py), which carries the 4xx status to answer with.
"""

from pathlib import Path

from .protocol import (
    PredictionBatch,
    RequestBatch,
    UnsupportedAccept,
    UnsupportedContentType,
    is_json,
    parse_body,
    prediction,
    render,
)
from .recommender import Recommender

JSON = "application/json"


def model_fn(model_dir: str | Path) -> Recommender:
    """Load the model that model/train.py wrote into `model_dir`."""
    return Recommender.load(model_dir)


def input_fn(body: bytes | str, content_type: str | None) -> RequestBatch:
    """Parse a JSON request body (single or {"instances": [...]})."""
    if not is_json(content_type):
        raise UnsupportedContentType(
            f"content type {content_type or '(none)'!r} is not supported; send {JSON}"
        )
    return parse_body(body)


def predict_fn(data: RequestBatch, model: Recommender) -> PredictionBatch:
    """Rank items for every request in the batch; unknown users get the popularity prior."""
    rankings = model.recommend_many(
        [(request.user_id, request.num_results, request.exclude) for request in data.requests]
    )
    return PredictionBatch(
        [prediction(r.items, model.model_version, r.prior) for r in rankings], batch=data.batch
    )


def output_fn(prediction_batch: PredictionBatch, accept: str | None) -> bytes:
    """Serialise to JSON, the only type offered (any Accept that allows JSON is fine)."""
    if accept and not _accepts_json(accept):
        raise UnsupportedAccept(f"accept {accept!r} is not supported; this model answers {JSON}")
    return render(prediction_batch)


def _accepts_json(accept: str) -> bool:
    for media_range in accept.split(","):
        media_type = media_range.split(";", 1)[0].strip().lower()
        if media_type in ("*/*", "application/*") or is_json(media_type):
            return True
    return False
