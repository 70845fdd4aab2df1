"""The endpoint's WSGI application: SageMaker's container contract and its Runtime API path.

GET  /ping                            health (the container contract)
POST /invocations                     the model, as SageMaker calls a container (no auth): only
                                      when `container_route` is on (the container, or a flag)
POST /endpoints/<name>/invocations    InvokeEndpoint as boto3 sends it (SigV4, AWS error shapes)
GET|POST /_faults, GET /_stats, POST /_stats/reset    test controls (controls.py)

Every body is read through a stream that stops at SageMaker's 6 MB payload limit, whether the
client sent a Content-Length or chunks, so nothing larger is ever read, on any route.
"""

import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from ..inference.handlers import input_fn, output_fn, predict_fn
from ..inference.protocol import InferenceError
from ..inference.recommender import Recommender
from . import aws_errors, controls, faults, sigv4
from .aws_errors import AwsError
from .bodies import MAX_BODY_BYTES, LimitedRequest, read_body
from .controls import json_response as _json
from .controls import only as _only
from .reloading import ModelHolder
from .shared_state import SharedState

logger = logging.getLogger(__name__)

DEFAULT_VARIANT = "AllTraffic"
MAX_CUSTOM_ATTRIBUTES = 1024
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
_RUNTIME_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$")


@dataclass(frozen=True)
class EndpointConfig:
    """What the server answers for: its endpoint name, credentials, region, variants and routes."""

    endpoint_name: str
    secrets: dict[str, str]  # access key id -> secret access key
    region: str = "eu-west-1"  # only used in messages and ARNs; any signing region is accepted
    variants: tuple[str, ...] = ()  # empty: accept any TargetVariant
    runtime_route: bool = True  # POST /endpoints/<name>/invocations, SigV4
    container_route: bool = False  # POST /invocations, unauthenticated: the container's own
    control_token: str | None = None  # the test controls' token; None: no test controls


class EndpointApp:
    """WSGI callable holding the loaded model (one per gunicorn worker).

    Given a `ModelHolder`, each request takes the holder's model once, when it starts: a swap
    never changes the model under a request in flight (see reloading.py).
    """

    def __init__(
        self, model: Recommender | ModelHolder, config: EndpointConfig, state: SharedState
    ) -> None:
        self._holder = model if isinstance(model, ModelHolder) else None
        self._fixed = None if isinstance(model, ModelHolder) else model
        self.config = config
        self.state = state

    @property
    def model(self) -> Recommender:
        """The model new requests get."""
        if self._holder is not None:
            return self._holder.model_for_request()
        assert self._fixed is not None
        return self._fixed

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = LimitedRequest(environ)
        try:
            response = self.dispatch(request)
        except Exception:
            # Never a bare 500 page: log once, answer in the service's JSON shape.
            logger.exception("unhandled error in the endpoint", extra={"path": request.path})
            response = _aws(aws_errors.internal_failure())
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Route a request to its handler."""
        path = request.path
        match = _RUNTIME_PATH.match(path)
        if match and self.config.runtime_route:
            return _only(request, "POST") or self.runtime_invocation(request, match["name"])
        if path == "/invocations" and self.config.container_route:
            return _only(request, "POST") or self.container_invocation(request)
        if path == "/ping":
            return _only(request, "GET") or _json(
                200, {"status": "healthy", "model_version": self.model.model_version}
            )
        if path in controls.PATHS:
            return controls.handle(request, self.state, self.config.control_token)
        return _aws(aws_errors.unknown_operation())

    def runtime_invocation(self, request: Request, endpoint_name: str) -> Response:
        """InvokeEndpoint: authenticate, validate, apply faults, run the model."""
        model = self.model  # fixed for the whole request, whatever a swap does meanwhile
        request_id = str(uuid.uuid4())
        # Bounded before anything else: the signature covers the body, so it is read first.
        body = read_body(request)
        if body is None:
            return _aws(
                aws_errors.validation_error(
                    f"Request payload exceeds the limit of {MAX_BODY_BYTES} bytes."
                ),
                request_id,
            )
        try:
            sigv4.verify(
                method=request.method,
                url=_raw_url(request),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
                secrets=self.config.secrets,
            )
        except sigv4.SignatureRejected as exc:
            logger.warning("request not authenticated", extra={"code": exc.error.code})
            return _aws(exc.error, request_id)
        if endpoint_name != self.config.endpoint_name:
            return _aws(aws_errors.endpoint_not_found(endpoint_name), request_id)
        variant = request.headers.get("X-Amzn-SageMaker-Target-Variant") or (
            self.config.variants[0] if self.config.variants else DEFAULT_VARIANT
        )
        if self.config.variants and variant not in self.config.variants:
            return _aws(
                aws_errors.validation_error(
                    f"Invalid target variant {variant} for endpoint {endpoint_name}."
                ),
                request_id,
            )
        custom_attributes = request.headers.get(CUSTOM_ATTRIBUTES_HEADER)
        if custom_attributes is not None and len(custom_attributes) > MAX_CUSTOM_ATTRIBUTES:
            return _aws(
                aws_errors.validation_error(
                    f"CustomAttributes must be at most {MAX_CUSTOM_ATTRIBUTES} characters."
                ),
                request_id,
            )
        self.state.record_invocation(variant)
        headers = [("x-Amzn-Invoked-Production-Variant", variant), ("x-amzn-RequestId", request_id)]
        if custom_attributes is not None:
            # SageMaker returns what the container sends; this container echoes the request's.
            headers.append((CUSTOM_ATTRIBUTES_HEADER, custom_attributes))

        injected = faults.apply(self.state, endpoint_name, self.config.region)
        if injected is faults.Garbage:
            return Response(faults.GARBAGE_BODY, 200, headers, content_type="application/json")
        if isinstance(injected, AwsError):
            return _aws(injected, request_id)

        status, payload = self.invoke(
            body, request.content_type, request.headers.get("Accept"), model
        )
        if status != 200:
            return _aws(
                aws_errors.model_error(status, payload.decode(), endpoint_name, self.config.region),
                request_id,
            )
        return Response(payload, 200, headers, content_type="application/json")

    def container_invocation(self, request: Request) -> Response:
        """POST /invocations as SageMaker calls the container: faults apply, no authentication."""
        model = self.model
        body = read_body(request)
        if body is None:
            return controls.too_large()
        headers = []
        custom_attributes = request.headers.get(CUSTOM_ATTRIBUTES_HEADER)
        if custom_attributes is not None:
            if len(custom_attributes) > MAX_CUSTOM_ATTRIBUTES:
                return _json(
                    400,
                    {
                        "error": "BadRequest",
                        "message": f"custom attributes must be at most {MAX_CUSTOM_ATTRIBUTES} "
                        "characters",
                    },
                )
            # SageMaker hands the container's header back to the caller as CustomAttributes.
            headers.append((CUSTOM_ATTRIBUTES_HEADER, custom_attributes))
        self.state.record_invocation(DEFAULT_VARIANT)
        injected = faults.apply(self.state, self.config.endpoint_name, self.config.region)
        if injected is faults.Garbage:
            return Response(faults.GARBAGE_BODY, 200, content_type="application/json")
        if isinstance(injected, AwsError):
            return _aws(injected)
        status, payload = self.invoke(
            body, request.content_type, request.headers.get("Accept"), model
        )
        return Response(payload, status, headers, content_type="application/json")

    def invoke(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        model: Recommender | None = None,
    ) -> tuple[int, bytes]:
        """The four handler functions; (status, JSON body). Errors become 4xx/500 JSON bodies."""
        try:
            data = input_fn(body, content_type)
            self.state.record_instances(len(data.requests))
            return 200, output_fn(predict_fn(data, model or self.model), accept)
        except InferenceError as exc:
            return exc.status, json.dumps(exc.to_json()).encode()
        except Exception:
            logger.exception("model failed to answer")
            return 500, json.dumps(
                {"error": "InternalError", "message": "the model failed to answer"}
            ).encode()


def _raw_url(request: Request) -> str:
    """The URL as the client signed it: the raw, still percent-encoded path and query."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        raw = quote(environ.get("PATH_INFO", ""))
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    return f"{request.scheme}://{request.host}{raw}"


def _aws(error: AwsError, request_id: str | None = None) -> Response:
    return Response(error.body(), error.status, error.headers(request_id or str(uuid.uuid4())))
