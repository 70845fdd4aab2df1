"""The test controls of the local server: /_faults, /_stats and /_stats/reset.

They switch faults on for every client of the server, so a web page in a developer's browser
must not reach them: each request must come from loopback and carry the token the server
printed at start-up in an `X-Control-Token` header, and a POST must be JSON. A custom header
and a JSON content type both make a browser ask first (a CORS preflight), which this server
never grants, so no page can send such a request on its own.
"""

import hmac
import ipaddress
import json
import logging
from typing import Any

from werkzeug.wrappers import Request, Response

from ..inference.protocol import is_json
from .bodies import read_body
from .shared_state import SharedState

logger = logging.getLogger(__name__)

CONTROL_HEADER = "X-Control-Token"
PATHS = ("/_faults", "/_stats", "/_stats/reset")


def handle(request: Request, state: SharedState, token: str | None) -> Response:
    """Answer a request to one of PATHS; 404 when the server has no token (no controls)."""
    if not token:
        return json_response(404, {"error": "NotFound", "message": "no test controls here"})
    if not _is_loopback(request.remote_addr):
        return json_response(403, {"error": "Forbidden", "message": "loopback only"})
    offered = request.headers.get(CONTROL_HEADER, "")
    if not hmac.compare_digest(offered.encode(), token.encode()):
        return json_response(
            403, {"error": "Forbidden", "message": f"send the start-up token in {CONTROL_HEADER}"}
        )
    if request.path == "/_faults":
        return faults(request, state)
    if request.path == "/_stats":
        return only(request, "GET") or json_response(200, state.stats())
    if refused := only(request, "POST"):
        return refused
    state.reset_stats()
    return json_response(200, state.stats())


def faults(request: Request, state: SharedState) -> Response:
    """GET: the active fault; POST {"mode": ..., "latency_ms": N} as JSON: switch it."""
    if request.method == "GET":
        return json_response(200, fault_json(state))
    if refused := only(request, "GET, POST"):
        return refused
    if not is_json(request.content_type):
        return json_response(
            415, {"error": "UnsupportedMediaType", "message": "send application/json"}
        )
    body = read_body(request)
    if body is None:
        return too_large()
    try:
        document = json.loads(body or b"{}")
        if not isinstance(document, dict):
            raise ValueError("body must be a JSON object")
        latency_ms = document.get("latency_ms", 0)
        if not isinstance(latency_ms, int) or isinstance(latency_ms, bool):
            raise ValueError("latency_ms must be an integer")
        state.set_fault(str(document.get("mode", "none")), latency_ms)
    except RecursionError:
        return json_response(400, {"error": "BadRequest", "message": "body is nested too deeply"})
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
        return json_response(400, {"error": "BadRequest", "message": str(exc)})
    logger.info("fault switched", extra=fault_json(state))
    return json_response(200, fault_json(state))


def fault_json(state: SharedState) -> dict[str, Any]:
    """The active fault as the controls show it."""
    setting = state.fault()
    return {"mode": setting.mode, "latency_ms": setting.latency_ms}


def too_large() -> Response:
    """413 in the container's JSON error shape."""
    # gunicorn drains at most 64 KB of what is left unread, then closes the connection.
    return json_response(
        413, {"error": "PayloadTooLarge", "message": "body exceeds the 6 MB payload limit"}
    )


def only(request: Request, methods: str) -> Response | None:
    """None when the request's method is one of `methods` ("GET, POST"), else a 405."""
    if request.method in methods.split(", "):
        return None
    response = json_response(405, {"error": "MethodNotAllowed", "message": f"use {methods}"})
    response.headers["Allow"] = methods
    return response


def json_response(status: int, document: dict[str, Any]) -> Response:
    """A JSON response."""
    return Response(json.dumps(document), status, content_type="application/json")


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False
