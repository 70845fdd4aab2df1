"""Wire formats between the app and the endpoint: request bodies out, validated predictions in.

`CODEC` picks one: "json" (the app's own, as `model/` speaks it), "sagemaker_json" (the SageMaker
built-in convention, always `{"instances": [...]}` -> `{"predictions": [...]}`), or the dotted path of
a `Codec` subclass (for an endpoint that speaks something else, instead of a Lambda in between).

Answers are not trusted: items with a wrong type, a missing field, a non-finite score or a repeated
id are dropped one by one; only a body that is not JSON or has the wrong overall shape raises
`BadResponse`.
"""

import json
import logging
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.module_loading import import_string

from ..conf import app_settings
from ..exceptions import BadResponse, EndpointMisconfigured, EndpointRejected
from .predictions import Prediction, PredictionRequest

logger = logging.getLogger(__name__)

# Bounds on what one answer may make us hold; anything past them is garbage, not a ranking.
MAX_ITEMS_PER_ANSWER = 1000
MAX_ITEM_ID_CHARS = 255
MAX_MODEL_VERSION_CHARS = 128
# The most bytes one item of an answer may take on the wire: the longest id (escaped), a score
# and pretty-printing fit well inside this. An answer longer than its items can need is cut off
# while it is read (the backends), so that a broken endpoint cannot make a process hold gigabytes.
MAX_ITEM_BYTES = 1024
ANSWER_OVERHEAD_BYTES = 64 * 1024


class Codec:
    """Base of every codec: turns requests into a body and a body back into predictions."""

    content_type: str = "application/json"
    accept: str = "application/json"

    def encode(self, requests: Sequence[PredictionRequest]) -> bytes:
        """The request body for these requests, in this order."""
        raise NotImplementedError

    def decode(self, body: bytes, expected: int) -> list[Prediction]:
        """One validated prediction per request, in request order; BadResponse if it cannot be."""
        raise NotImplementedError

    def max_answer_bytes(self, users: int) -> int:
        """The longest body an answer for `users` users may have; a longer one is a BadResponse."""
        return ANSWER_OVERHEAD_BYTES + max(1, users) * MAX_ITEMS_PER_ANSWER * MAX_ITEM_BYTES


class JSONCodec(Codec):
    """The app's own JSON: a single object for one user, `instances`/`predictions` for a batch."""

    # SageMaker's built-in convention wraps even a single request in `instances`.
    always_batch: bool = False

    def encode(self, requests: Sequence[PredictionRequest]) -> bytes:
        """The request body for these requests, in this order."""
        if not requests:
            raise ValueError("nothing to encode: no requests")
        instances = [self.instance(request) for request in requests]
        payload: Any
        if len(instances) == 1 and not self.always_batch:
            payload = instances[0]
        else:
            payload = {"instances": instances}
        # DjangoJSONEncoder so that a context holding dates or decimals still encodes.
        try:
            text = json.dumps(
                payload, cls=DjangoJSONEncoder, separators=(",", ":"), allow_nan=False
            )
        except (TypeError, ValueError, RecursionError) as err:
            # A context holding NaN, infinity or an object JSON cannot hold: this request can
            # never be sent, which the page answers from the fallback like any refused request.
            raise EndpointRejected(
                detail=f"the request cannot be encoded as JSON ({type(err).__name__})"
            ) from err
        return text.encode()

    def instance(self, request: PredictionRequest) -> dict[str, Any]:
        """One user's request object on the wire."""
        return {
            "user_id": request.user_key,
            "num_results": request.num_results,
            "exclude": list(request.exclude),
            "context": dict(request.context),
        }

    def decode(self, body: bytes, expected: int) -> list[Prediction]:
        """One validated prediction per request, in request order; BadResponse if it cannot be."""
        payload = parse_json(body)
        answers = self.answers(payload, expected)
        predictions: list[Prediction] = []
        malformed = 0
        for answer in answers:
            prediction = parse_answer(answer)
            if prediction is None:
                malformed += 1
                prediction = Prediction(item_ids=(), scores=(), model_version=None, dropped=1)
            predictions.append(prediction)
        if answers and malformed == len(answers):
            raise BadResponse(detail="no prediction in the answer has the expected shape")
        dropped = sum(prediction.dropped for prediction in predictions)
        if dropped:
            logger.debug(
                "recommendations.codec dropped invalid items",
                extra={"dropped": dropped, "malformed_answers": malformed},
            )
        return predictions

    def answers(self, payload: Any, expected: int) -> list[Any]:
        """The per-user answers in the payload, checked to be one per request."""
        if isinstance(payload, dict) and "predictions" in payload:
            answers = payload["predictions"]
        elif (
            not self.always_batch
            and expected == 1
            and isinstance(payload, dict)
            and "recommendations" in payload
        ):
            answers = [payload]
        else:
            raise BadResponse(detail="expected a JSON object with 'predictions'")
        if not isinstance(answers, list):
            raise BadResponse(detail="'predictions' is not a list")
        if len(answers) != expected:
            raise BadResponse(detail=f"expected {expected} predictions, got {len(answers)}")
        return answers


class SageMakerJSONCodec(JSONCodec):
    """SageMaker's built-in JSON convention: always `{"instances": [...]}` -> `{"predictions": [...]}`."""

    always_batch = True


def parse_json(body: bytes) -> Any:
    """The body as JSON, or BadResponse."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        # json.JSONDecodeError is a ValueError; a deeply nested body can exhaust the recursion limit.
        raise BadResponse(detail=f"the body is not JSON ({type(err).__name__})") from err


def parse_answer(answer: Any) -> Prediction | None:
    """One user's answer, validated item by item; None when the answer itself is malformed."""
    if not isinstance(answer, dict):
        return None
    items = answer.get("recommendations")
    if not isinstance(items, list):
        return None
    item_ids: list[str] = []
    scores: list[float] = []
    seen: set[str] = set()
    dropped = max(0, len(items) - MAX_ITEMS_PER_ANSWER)
    for item in items[:MAX_ITEMS_PER_ANSWER]:
        parsed = parse_item(item)
        if parsed is None or parsed[0] in seen:
            dropped += 1
            continue
        seen.add(parsed[0])
        item_ids.append(parsed[0])
        scores.append(parsed[1])
    return Prediction(
        item_ids=tuple(item_ids),
        scores=tuple(scores),
        model_version=parse_model_version(answer.get("model_version")),
        prior=answer.get("prior") is True,
        dropped=dropped,
    )


def parse_item(item: Any) -> tuple[str, float] | None:
    """`(item_id, score)` of one recommended item, or None when it cannot be trusted."""
    if not isinstance(item, dict):
        return None
    item_id = item.get("item_id")
    score = item.get("score")
    # bool is an int in Python, but True is no product id and no score.
    if isinstance(item_id, bool) or not isinstance(item_id, int | str):
        return None
    item_id = str(item_id)
    if not item_id or len(item_id) > MAX_ITEM_ID_CHARS:
        return None
    if isinstance(score, bool) or not isinstance(score, int | float):
        return None
    try:
        score = float(score)
    except OverflowError:  # an integer too large for a float
        return None
    if not math.isfinite(score):
        return None
    return item_id, score


def parse_model_version(value: Any) -> str | None:
    """The model version as a short string, or None when absent or not a string."""
    if isinstance(value, str) and value and len(value) <= MAX_MODEL_VERSION_CHARS:
        return value
    return None


BUILTIN_CODECS: dict[str, type[Codec]] = {
    "json": JSONCodec,
    "sagemaker_json": SageMakerJSONCodec,
}


def get_codec(name: str | None = None) -> Codec:
    """The codec named by `name` or the CODEC setting: a built-in name or a dotted path."""
    return _load_codec(name if name is not None else app_settings.CODEC)


@lru_cache(maxsize=16)
def _load_codec(name: str) -> Codec:
    if name in BUILTIN_CODECS:
        return BUILTIN_CODECS[name]()
    try:
        loaded = import_string(str(name))
    except ImportError as err:
        raise EndpointMisconfigured(
            f"CODEC {name!r} is neither a built-in codec nor an importable dotted path"
        ) from err
    if isinstance(loaded, type) and issubclass(loaded, Codec):
        return loaded()
    if isinstance(loaded, Codec):
        return loaded
    raise EndpointMisconfigured(
        f"CODEC {name!r} is not a recommendations.backends.codecs.Codec subclass"
    )
