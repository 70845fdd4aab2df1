"""The endpoint's WSGI application: SageMaker's container contract and its Runtime API path.

GET  /ping                            health (the container contract)
POST /invocations                     the model, as SageMaker calls a container (no auth)
POST /endpoints/<name>/invocations    InvokeEndpoint as boto3 sends it (SigV4, AWS error shapes)
GET|POST /_faults, GET /_stats, POST /_stats/reset    test controls, loopback only
"""

import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from . import aws_errors, faults, sigv4
from .aws_errors import AwsError
from .inference import input_fn, output_fn, predict_fn
from .protocol import InferenceError
from .recommender import Recommender
from .reloading import ModelHolder
from .shared_state import SharedState

logger = logging.getLogger(__name__)

DEFAULT_VARIANT = "AllTraffic"
MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's payload limit
MAX_CUSTOM_ATTRIBUTES = 1024
_RUNTIME_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$")


@dataclass(frozen=True)
class EndpointConfig:
    """What the server answers for: its endpoint name, credentials, region and variants."""

    endpoint_name: str
    secrets: dict[str, str]  # access key id -> secret access key
    region: str = "eu-west-1"  # only used in messages and ARNs; any signing region is accepted
    variants: tuple[str, ...] = ()  # empty: accept any TargetVariant


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
        request = Request(environ)
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
        if match:
            return _only(request, "POST") or self.runtime_invocation(request, match["name"])
        if path == "/invocations":
            return _only(request, "POST") or self.container_invocation(request)
        if path == "/ping":
            return _only(request, "GET") or _json(
                200, {"status": "healthy", "model_version": self.model.model_version}
            )
        if path in ("/_faults", "/_stats", "/_stats/reset"):
            if not _is_loopback(request.remote_addr):
                return _json(403, {"error": "Forbidden", "message": "loopback only"})
            if path == "/_faults":
                return self.faults(request)
            if path == "/_stats":
                return _only(request, "GET") or _json(200, self.state.stats())
            return _only(request, "POST") or self.reset_stats()
        return _aws(aws_errors.unknown_operation())

    def runtime_invocation(self, request: Request, endpoint_name: str) -> Response:
        """InvokeEndpoint: authenticate, validate, apply faults, run the model."""
        model = self.model  # fixed for the whole request, whatever a swap does meanwhile
        request_id = str(uuid.uuid4())
        if not _fits(request):
            return _aws(
                aws_errors.validation_error(
                    f"Request payload exceeds the limit of {MAX_BODY_BYTES} bytes."
                ),
                request_id,
            )
        body = request.get_data(cache=False)
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
        custom_attributes = request.headers.get("X-Amzn-SageMaker-Custom-Attributes")
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
            headers.append(("X-Amzn-SageMaker-Custom-Attributes", custom_attributes))

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
        if not _fits(request):
            return _json(413, {"error": "PayloadTooLarge", "message": "body too large"})
        body = request.get_data(cache=False)
        self.state.record_invocation(DEFAULT_VARIANT)
        injected = faults.apply(self.state, self.config.endpoint_name, self.config.region)
        if injected is faults.Garbage:
            return Response(faults.GARBAGE_BODY, 200, content_type="application/json")
        if isinstance(injected, AwsError):
            return _aws(injected)
        status, payload = self.invoke(
            body, request.content_type, request.headers.get("Accept"), model
        )
        return Response(payload, status, content_type="application/json")

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

    def reset_stats(self) -> Response:
        """POST /_stats/reset: zero the counters."""
        self.state.reset_stats()
        return _json(200, self.state.stats())

    def faults(self, request: Request) -> Response:
        """GET: the active fault; POST {"mode": ..., "latency_ms": N}: switch it."""
        if request.method == "GET":
            return _json(200, _fault_json(self.state))
        if request.method != "POST":
            return _json(405, {"error": "MethodNotAllowed", "message": "use GET, POST"})
        try:
            document = json.loads(request.get_data() or b"{}")
            if not isinstance(document, dict):
                raise ValueError("body must be a JSON object")
            latency_ms = document.get("latency_ms", 0)
            if not isinstance(latency_ms, int) or isinstance(latency_ms, bool):
                raise ValueError("latency_ms must be an integer")
            self.state.set_fault(str(document.get("mode", "none")), latency_ms)
        except ValueError as exc:
            return _json(400, {"error": "BadRequest", "message": str(exc)})
        logger.info("fault switched", extra=_fault_json(self.state))
        return _json(200, _fault_json(self.state))


def _fault_json(state: SharedState) -> dict[str, Any]:
    setting = state.fault()
    return {"mode": setting.mode, "latency_ms": setting.latency_ms}


def _fits(request: Request) -> bool:
    return (request.content_length or 0) <= MAX_BODY_BYTES


def _raw_url(request: Request) -> str:
    """The URL as the client signed it: the raw, still percent-encoded path and query."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        raw = quote(environ.get("PATH_INFO", ""))
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    return f"{request.scheme}://{request.host}{raw}"


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def _only(request: Request, methods: str) -> Response | None:
    if request.method in methods.split(", "):
        return None
    response = _json(405, {"error": "MethodNotAllowed", "message": f"use {methods}"})
    response.headers["Allow"] = methods
    return response


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(json.dumps(document), status, content_type="application/json")


def _aws(error: AwsError, request_id: str | None = None) -> Response:
    return Response(error.body(), error.status, error.headers(request_id or str(uuid.uuid4())))
