"""The endpoint's JSON wire format: parsing requests, shaping responses, and input errors.

Request, one user:  {"user_id": "...", "num_results": 10, "exclude": ["12"], "context": {...}}
Request, a batch:   {"instances": [{...}, {...}]}
Response, one user: {"recommendations": [{"item_id": "12", "score": 0.93}], "model_version": "...",
                     "prior": false}
Response, a batch:  {"predictions": [{...}, {...}]} in request order.

`context` is accepted (an object) and reserved for context-aware models; this model ignores it.
Unknown keys are ignored, so clients may send more than a given model reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DEFAULT_NUM_RESULTS = 10
MAX_NUM_RESULTS = 100
MAX_INSTANCES = 1000
MAX_EXCLUDE = 1000
MAX_ID_LENGTH = 256
JSON_CONTENT_TYPES = ("application/json", "application/jsonlines", "text/json")


class InferenceError(Exception):
    """A request the model cannot answer; `status` is the HTTP status the container returns."""

    status = 400
    error = "BadRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.error, "message": self.message}


class MalformedRequest(InferenceError):
    """The body is not JSON or does not have the request's shape."""


class UnsupportedContentType(InferenceError):
    """The request body is not JSON."""

    status = 415
    error = "UnsupportedMediaType"


class UnsupportedAccept(InferenceError):
    """The client wants a response type other than JSON."""

    status = 406
    error = "NotAcceptable"


@dataclass(frozen=True)
class RecommendationRequest:
    """One user's request."""

    user_id: str
    num_results: int = DEFAULT_NUM_RESULTS
    exclude: tuple[str, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestBatch:
    """What `input_fn` returns: the requests, and whether they came as a batch."""

    requests: list[RecommendationRequest]
    batch: bool


@dataclass(frozen=True)
class PredictionBatch:
    """What `predict_fn` returns: one response object per request, in order."""

    predictions: list[dict[str, Any]]
    batch: bool


def is_json(content_type: str | None) -> bool:
    """True for JSON media types (parameters such as charset are ignored)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() in JSON_CONTENT_TYPES


def parse_body(body: bytes | str) -> RequestBatch:
    """Decode and validate a request body; raises MalformedRequest with a message saying why."""
    try:
        document = json.loads(body)
    except RecursionError:
        # json's decoder recurses once per level: a body of 100k "[" exhausts the stack.
        raise MalformedRequest("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long
        raise MalformedRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedRequest("body must be a JSON object")
    if "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list) or not instances:
            raise MalformedRequest("instances must be a non-empty array")
        if len(instances) > MAX_INSTANCES:
            raise MalformedRequest(f"at most {MAX_INSTANCES} instances per request")
        return RequestBatch(
            [parse_instance(item, f"instances[{n}].") for n, item in enumerate(instances)],
            batch=True,
        )
    return RequestBatch([parse_instance(document, "")], batch=False)


def parse_instance(document: object, where: str) -> RecommendationRequest:
    """Validate one user's request object."""
    if not isinstance(document, dict):
        raise MalformedRequest(f"{where or 'request'} must be a JSON object".lstrip("."))
    user_id = document.get("user_id")
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_ID_LENGTH:
        raise MalformedRequest(f"{where}user_id must be a non-empty string")
    num_results = document.get("num_results", DEFAULT_NUM_RESULTS)
    if (
        not isinstance(num_results, int)
        or isinstance(num_results, bool)
        or not 1 <= num_results <= MAX_NUM_RESULTS
    ):
        raise MalformedRequest(f"{where}num_results must be an integer from 1 to {MAX_NUM_RESULTS}")
    exclude = document.get("exclude")
    exclude = [] if exclude is None else exclude
    if (
        not isinstance(exclude, list)
        or len(exclude) > MAX_EXCLUDE
        or not all(isinstance(i, str) for i in exclude)
    ):
        raise MalformedRequest(f"{where}exclude must be an array of at most {MAX_EXCLUDE} strings")
    context = document.get("context")
    context = {} if context is None else context
    if not isinstance(context, dict):
        raise MalformedRequest(f"{where}context must be a JSON object")
    return RecommendationRequest(user_id, num_results, tuple(exclude), context)


def prediction(items: list[tuple[str, float]], model_version: str, prior: bool) -> dict[str, Any]:
    """One user's response object."""
    return {
        "recommendations": [{"item_id": item_id, "score": score} for item_id, score in items],
        "model_version": model_version,
        "prior": prior,
    }


def render(predictions: PredictionBatch) -> bytes:
    """The response body: the single object, or {"predictions": [...]} for a batch."""
    document = (
        {"predictions": predictions.predictions}
        if predictions.batch
        else predictions.predictions[0]
    )
    return json.dumps(document, separators=(",", ":")).encode()
