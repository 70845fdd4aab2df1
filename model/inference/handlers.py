"""SageMaker inference handler: the functions a framework container calls.

`model_fn(model_dir)` once per worker, then per request `transform_fn(model, body, content_type,
accept)`, which runs `input_fn(body, content_type)`, `predict_fn(data, model)` and
`output_fn(prediction, accept)`. Bad input raises an `InferenceError` subclass (protocol.py),
which carries the 4xx status to answer with; `transform_fn` turns it into the answer the
container's own server sends as that 4xx rather than a 500 (framework_errors.py).
"""

from __future__ import annotations

from pathlib import Path

from .framework_errors import container_errors, error_response
from .protocol import (
    InferenceError,
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
    """Load the model that model/training/run.py wrote into `model_dir`."""
    return Recommender.load(model_dir)


def input_fn(body: bytes | str, content_type: str | None) -> RequestBatch:
    """Parse a JSON request body (single or {"instances": [...]})."""
    with container_errors():
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
    with container_errors():
        if accept and not _accepts_json(accept):
            raise UnsupportedAccept(
                f"accept {accept!r} is not supported; this model answers {JSON}"
            )
    return render(prediction_batch)


def transform_fn(
    model: Recommender, body: bytes | str, content_type: str | None, accept: str | None
) -> object:
    """One request: the response body and its type, or the 4xx answer for bad input."""
    try:
        return output_fn(predict_fn(input_fn(body, content_type), model), accept), JSON
    except InferenceError as error:
        response = error_response(error)
        if response is None:
            raise
        return response


def _accepts_json(accept: str) -> bool:
    for media_range in accept.split(","):
        media_type = media_range.split(";", 1)[0].strip().lower()
        if media_type in ("*/*", "application/*") or is_json(media_type):
            return True
    return False
