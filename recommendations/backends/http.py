"""Predictions from an HTTPS URL, typically API Gateway with a Lambda in front of SageMaker.

Needs requests and boto3, the `[http]` extra. Authentication: `x-api-key: HTTP_API_KEY` when the
setting is set, else SigV4 (service `execute-api`) with boto3's standard credential chain. One `requests.Session` per thread (a
Session is not documented as thread-safe), each with its own connection pool. The variant and
custom attributes travel in the same headers SageMaker Runtime uses, for the Lambda to pass on.
"""

import contextlib
import json
import logging
import re
import threading
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from django.core.checks import CheckMessage, Error

from .extras import MissingExtra

try:
    import boto3
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import BotoCoreError
    from requests.adapters import HTTPAdapter
    from urllib3.exceptions import MaxRetryError
    from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError
    from urllib3.util.retry import Retry
except ImportError as err:
    raise MissingExtra("http backend", "http", err) from err

from ..cache import local_state
from ..conf import app_settings
from ..conf.declared import Setting
from ..conf.kinds import Text
from ..exceptions import (
    BadResponse,
    EndpointAuthError,
    EndpointError,
    EndpointMisconfigured,
    EndpointTimeout,
    EndpointUnavailable,
)
from .aws_error_codes import ERROR_BODY_BYTES, error_for_answer
from .base import Backend, CallPolicy, EndpointResponse, call_policy, register_client_resetter

logger = logging.getLogger(__name__)

SIGNING_SERVICE = "execute-api"
TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
# Task-path retries: the statuses API Gateway and SageMaker use for "try again later".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_BACKOFF_FACTOR = 0.5
# Bodies are read in pieces of this size, so a read can stop at the answer's size limit.
READ_CHUNK_BYTES = 64 * 1024
# "abc123.execute-api.eu-west-1.amazonaws.com" carries its region.
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")

_thread_state = threading.local()
# Bumped by reset_clients(); each thread drops its sessions when it sees a new generation.
_generation = 0
_credentials_lock = threading.Lock()
_credentials_state: dict[str, Any] = {}


def _reset_clients() -> None:
    global _generation
    with _credentials_lock:
        _generation += 1
        _credentials_state.clear()


def _forget_clients_after_fork() -> None:
    global _credentials_lock, _thread_state
    _credentials_lock = threading.Lock()
    _credentials_state.clear()
    _thread_state = threading.local()


register_client_resetter(_reset_clients)
local_state.register("http_clients", after_fork=_forget_clients_after_fork)


def http_session(policy: CallPolicy) -> requests.Session:
    """This thread's session for this policy's retry behaviour and the current pool size."""
    if getattr(_thread_state, "generation", None) != _generation:
        for session in getattr(_thread_state, "sessions", {}).values():
            session.close()
        _thread_state.sessions = {}
        _thread_state.generation = _generation
    pool = int(app_settings.MAX_POOL_CONNECTIONS)
    key = (policy.transport_attempts, pool)
    session = _thread_state.sessions.get(key)
    if session is None:
        session = requests.Session()
        retries: Retry | int = 0
        if policy.transport_attempts > 1:
            retries = Retry(
                total=policy.transport_attempts - 1,
                status_forcelist=RETRY_STATUSES,
                # An invocation has no side effect, so POST may be repeated.
                allowed_methods=frozenset({"POST"}),
                backoff_factor=RETRY_BACKOFF_FACTOR,
                # The last error answer is returned and mapped like any other.
                raise_on_status=False,
                # A Retry-After from a misbehaving endpoint must not park a worker for an hour.
                respect_retry_after_header=False,
            )
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=retries)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _thread_state.sessions[key] = session
    return session


def _credentials() -> Any:
    """boto3's credentials, resolved once per process (None is remembered too).

    Remembering a failed lookup matters: off EC2, each lookup would wait on the instance
    metadata service, far longer than a page's budget.
    """
    if "resolved" not in _credentials_state:
        with _credentials_lock:
            if "resolved" not in _credentials_state:
                session = boto3.session.Session(region_name=app_settings.REGION or None)
                _credentials_state["credentials"] = session.get_credentials()
                _credentials_state["region"] = session.region_name
                _credentials_state["resolved"] = True
    return _credentials_state.get("credentials")


def signing_region(url: str) -> str | None:
    """REGION, else the region in an execute-api host name, else boto3's default region."""
    if app_settings.REGION:
        return str(app_settings.REGION)
    match = _EXECUTE_API_HOST.search(urlsplit(url).hostname or "")
    if match:
        return match.group(1)
    _credentials()
    return _credentials_state.get("region")


class HTTPBackend(Backend):
    """POST the codec's body to HTTP_URL with an API key or a SigV4 signature."""

    name = "http"
    settings: ClassVar[dict[str, Setting]] = {
        "HTTP_URL": Setting("", Text(), "API Gateway URL for the http backend."),
        "HTTP_API_KEY": Setting(
            "",
            Text(),
            "API key sent as x-api-key by the http backend; empty means SigV4 signing with the boto3 credentials.",
        ),
    }

    @classmethod
    def checks(cls) -> list[CheckMessage]:
        """HTTP_URL is where the requests go: without it no call can be made."""
        if app_settings.HTTP_URL:
            return []
        return [
            Error(
                "settings.RECOMMENDATIONS['HTTP_URL'] is empty but the http backend needs it.",
                hint="Set it to your API Gateway URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod/recommend.",
                id="recommendations.E004",
            )
        ]

    @classmethod
    def location(cls) -> str:
        """At the HTTP_URL (never quoted: it may carry a key in its query string)."""
        return "at the HTTP_URL"

    @classmethod
    def health_hint(cls, error: EndpointError) -> str | None:
        """A refused API key, and where to look when nothing answered."""
        detail = f" ({error.error_code}: {error.detail})" if error.detail else ""
        if (
            isinstance(error, EndpointAuthError)
            and error.reason != "no_credentials"
            and app_settings.HTTP_API_KEY
        ):
            return (
                f"The HTTP_URL refused the API key{detail}: check HTTP_API_KEY against the API "
                "Gateway usage plan, or leave it empty to sign with the AWS credentials."
            )
        if isinstance(error, EndpointUnavailable) and error.reason == "connection":
            return (
                f"Could not connect {cls.location()}{detail}: nothing answered. Check HTTP_URL "
                "and the network path."
            )
        return None

    @property
    def endpoint_label(self) -> str:
        """HTTP_URL without user info or query string (no place for a secret, but just in case)."""
        parts = urlsplit(str(app_settings.HTTP_URL or ""))
        host = parts.hostname or ""
        # A malformed port raises ValueError here; the call itself reports the URL as unusable.
        with contextlib.suppress(ValueError):
            host += f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    def warm_up(self, purpose: str = "page") -> None:
        """Create this thread's session and resolve the credentials now."""
        http_session(call_policy(purpose))
        if not app_settings.HTTP_API_KEY:
            _credentials()

    def invoke(
        self, body: bytes, *, policy: CallPolicy, target_variant: str | None
    ) -> EndpointResponse:
        """One POST; every status and exception becomes an EndpointError."""
        url = str(app_settings.HTTP_URL or "")
        endpoint = self.endpoint_label
        if not url:
            raise EndpointMisconfigured(
                "RECOMMENDATIONS['HTTP_URL'] is empty; the http backend needs it"
            )
        headers = {"Content-Type": self.codec.content_type, "Accept": self.codec.accept}
        if target_variant:
            headers[TARGET_VARIANT_HEADER] = target_variant
        if app_settings.CUSTOM_ATTRIBUTES:
            headers[CUSTOM_ATTRIBUTES_HEADER] = str(app_settings.CUSTOM_ATTRIBUTES)
        if app_settings.HTTP_API_KEY:
            headers["x-api-key"] = str(app_settings.HTTP_API_KEY).strip()
        else:
            headers = self._signed_headers(url, body, headers)
        try:
            # Streamed, so that the body is read only up to the answer's size limit.
            response = http_session(policy).post(
                url,
                data=body,
                headers=headers,
                timeout=(policy.connect_timeout, policy.read_timeout),
                allow_redirects=False,
                stream=True,
            )
            try:
                if 200 <= response.status_code < 300:
                    return EndpointResponse(
                        body=read_limited(response, policy.max_answer_bytes, endpoint),
                        variant=response.headers.get(INVOKED_VARIANT_HEADER),
                        content_type=response.headers.get("Content-Type"),
                    )
                raise error_from_response(response, endpoint, read_start(response))
            finally:
                # Back to the pool when read to the end; dropped when cut off.
                response.close()
        except requests.exceptions.RequestException as err:
            # The exception holds the prepared request, headers (API key, signature) included.
            err.request = None
            raise error_from_requests(err, endpoint) from err

    def _signed_headers(self, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        endpoint = self.endpoint_label
        try:
            credentials = _credentials()
            if credentials is None:
                raise EndpointAuthError(
                    reason="no_credentials",
                    endpoint=endpoint,
                    error_code="NoCredentialsError",
                    detail="no HTTP_API_KEY and no AWS credentials to sign the request with",
                )
            region = signing_region(url)
            if not region:
                raise EndpointMisconfigured(
                    endpoint=endpoint,
                    detail="no AWS region to sign with: set RECOMMENDATIONS['REGION']",
                )
            request = AWSRequest(method="POST", url=url, data=body, headers=headers)
            SigV4Auth(credentials.get_frozen_credentials(), SIGNING_SERVICE, region).add_auth(
                request
            )
        except BotoCoreError as err:
            # A refresh of role credentials failed, or similar: there is nothing to sign with.
            raise EndpointAuthError(
                reason="no_credentials",
                endpoint=endpoint,
                error_code=type(err).__name__,
                detail=str(err),
            ) from err
        return dict(request.headers.items())


def read_limited(response: requests.Response, limit: int | None, endpoint: str) -> bytes:
    """The whole (decoded) body, or BadResponse as soon as it is longer than `limit` bytes."""
    declared = response.headers.get("Content-Length", "")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        raise BadResponse(
            endpoint=endpoint, detail=f"the answer is larger than {limit} bytes (Content-Length)"
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(READ_CHUNK_BYTES):
        size += len(chunk)
        if limit is not None and size > limit:
            raise BadResponse(endpoint=endpoint, detail=f"the answer is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def read_start(response: requests.Response) -> bytes:
    """The first ERROR_BODY_BYTES of an error answer's body (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(READ_CHUNK_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if size >= ERROR_BODY_BYTES:
            break
    return b"".join(chunks)[:ERROR_BODY_BYTES]


def error_from_response(
    response: requests.Response, endpoint: str, content: bytes | None = None
) -> EndpointError:
    """The app's error for an error answer (API Gateway's or a passed-through SageMaker one)."""
    if content is None:
        content = response.content
    payload: Any = None
    try:
        payload = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        payload = {}
    # API Gateway and AWS REST services name the error in this header ("Code:namespace...").
    code = response.headers.get("x-amzn-ErrorType", "").split(":", 1)[0].strip()
    if not code:
        for field in ("__type", "code", "Code", "errorType"):
            if isinstance(payload.get(field), str):
                code = payload[field].rsplit("#", 1)[-1]
                break
    message = next(
        (
            payload[field]
            for field in ("message", "Message", "errorMessage")
            if isinstance(payload.get(field), str)
        ),
        "",
    )
    original_status = payload.get("OriginalStatusCode")
    return error_for_answer(
        endpoint=endpoint,
        error_code=code or None,
        status_code=response.status_code,
        message=message,
        request_id=response.headers.get("x-amzn-RequestId"),
        original_status_code=original_status if isinstance(original_status, int) else None,
    )


def error_from_requests(err: requests.exceptions.RequestException, endpoint: str) -> EndpointError:
    """The app's error for a requests failure that is not an answer (network, timeouts, URL)."""
    # requests' messages repeat the URL; the type is enough to tell what happened.
    fields: dict[str, Any] = {"endpoint": endpoint, "error_code": type(err).__name__}
    if isinstance(err, requests.exceptions.Timeout) or _retries_ended_in_read_timeout(err):
        return EndpointTimeout(**fields)
    if isinstance(
        err,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema
        | requests.exceptions.InvalidHeader,
    ):
        return EndpointMisconfigured(detail="RECOMMENDATIONS['HTTP_URL'] cannot be used", **fields)
    return EndpointUnavailable(reason="connection", **fields)


def _retries_ended_in_read_timeout(err: requests.exceptions.RequestException) -> bool:
    # With urllib3 retries, exhausted read timeouts surface as ConnectionError(MaxRetryError).
    # A read timeout while streaming the body surfaces as ConnectionError(ReadTimeoutError).
    cause = err.args[0] if err.args else None
    if isinstance(cause, URLLib3ReadTimeoutError):
        return True
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, URLLib3ReadTimeoutError)
