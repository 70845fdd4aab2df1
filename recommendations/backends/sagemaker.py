"""Predictions from an Amazon SageMaker endpoint through boto3's `sagemaker-runtime` client.

Needs boto3, the `[sagemaker]` extra. One client per (timeouts, attempts, region, endpoint URL,
pool size) per process, created lazily under a lock and reused by every thread (boto3 clients are
thread-safe; sessions are not, so each client gets its own session, made under the same lock). Credentials come from boto3's standard
chain (environment, profile, instance or task role) and are resolved when the client is made.

An answer's body is read up to the call's size limit (`read_limited`); of an error answer, which
botocore reads whole to parse it, only the first ERROR_BODY_BYTES (`ErrorAnswerStart`).
"""

import io
import logging
import threading
from typing import Any, ClassVar

from django.core.checks import CheckMessage, Error

from .extras import MissingExtra

try:
    import boto3
    import botocore
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        CredentialRetrievalError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
        ReadTimeoutError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from urllib3.exceptions import ProtocolError
    from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError
    from urllib3.response import HTTPResponse
except ImportError as err:
    raise MissingExtra("sagemaker backend", "sagemaker", err) from err

from ..cache import local_state
from ..conf import app_settings
from ..conf.declared import Setting
from ..conf.kinds import Optional, Text
from ..exceptions import (
    BadResponse,
    EndpointAuthError,
    EndpointError,
    EndpointMisconfigured,
    EndpointRejected,
    EndpointTimeout,
    EndpointUnavailable,
)
from .aws_error_codes import ERROR_BODY_BYTES, error_for_answer
from .base import Backend, CallPolicy, EndpointResponse, call_policy, register_client_resetter

logger = logging.getLogger(__name__)

USER_AGENT_EXTRA = "django-hybrid-recommendations"
# The answer's body is read in pieces of this size, so the read can stop at its size limit.
READ_CHUNK_BYTES = 64 * 1024

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _client_key(policy: CallPolicy) -> tuple[Any, ...]:
    return (
        app_settings.REGION or None,
        app_settings.ENDPOINT_URL or None,
        policy.connect_timeout,
        policy.read_timeout,
        policy.transport_attempts,
        int(app_settings.MAX_POOL_CONNECTIONS),
    )


def runtime_client(policy: CallPolicy) -> Any:
    """The shared `sagemaker-runtime` client for this call policy and the current settings."""
    key = _client_key(policy)
    client = _clients.get(key)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            region, endpoint_url, connect, read, attempts, pool = key
            session = boto3.session.Session(region_name=region)
            client = session.client(
                "sagemaker-runtime",
                endpoint_url=endpoint_url,
                config=Config(
                    connect_timeout=connect,
                    read_timeout=read,
                    # Standard mode: jittered backoff and a retry quota, so a throttled endpoint
                    # is not hammered. On the page path this is 1 (see call_policy).
                    retries={"mode": "standard", "total_max_attempts": attempts},
                    max_pool_connections=pool,
                    user_agent_extra=USER_AGENT_EXTRA,
                ),
            )
            read_only_the_start_of_error_answers(client)
            _clients[key] = client
        return client


class ErrorAnswerStart:
    """botocore's HTTP session, reading only the first ERROR_BODY_BYTES of an error answer.

    botocore reads an error answer's body whole before parsing it, and SageMaker bounds its
    answers but ENDPOINT_URL may name any server. The start is handed on as UTF-8, which
    botocore's parser insists on (it fails on other bytes, and the start may end in a character).
    """

    def __init__(self, session: Any) -> None:
        self.session = session

    def send(self, request: Any) -> Any:
        """Send as botocore does; an error answer comes back with the start of its body only."""
        response = self.session.send(request)
        if response.status_code < 300 or not request.stream_output:
            return response  # an answer, or a body botocore has read already (not invoke_endpoint)
        start = _read_start(response.raw, request.url)
        text = start.decode("utf-8", errors="replace").encode("utf-8")
        # No headers here: the answer's Content-Length is of the body as it was sent.
        body = HTTPResponse(body=io.BytesIO(text), preload_content=False, decode_content=False)
        return AWSResponse(request.url, response.status_code, response.headers, body)

    def close(self) -> None:
        """Close botocore's session (its connection pools)."""
        self.session.close()


def _read_start(raw: Any, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        while size < ERROR_BODY_BYTES:
            chunk = raw.read(min(READ_CHUNK_BYTES, ERROR_BODY_BYTES - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
    # botocore's own session turns these into its errors only while sending, not while reading.
    except URLLib3ReadTimeoutError as err:
        raise ReadTimeoutError(endpoint_url=url, error=err) from err
    except ProtocolError as err:
        raise ConnectionClosedError(endpoint_url=url, error=err) from err
    raw.close()  # the rest is never read; the connection is dropped, not pooled
    return b"".join(chunks)


def read_only_the_start_of_error_answers(client: Any) -> None:
    """Put `ErrorAnswerStart` in front of the client's HTTP session."""
    # botocore has no setting for the session a client uses, so its endpoint's is wrapped.
    endpoint = getattr(client, "_endpoint", None)
    if endpoint is None or not hasattr(endpoint, "http_session"):
        logger.warning(
            "This botocore keeps its HTTP session elsewhere: error answers are read whole",
            extra={"botocore_version": botocore.__version__},
        )
        return
    if not isinstance(endpoint.http_session, ErrorAnswerStart):
        endpoint.http_session = ErrorAnswerStart(endpoint.http_session)


def _reset_clients() -> None:
    with _clients_lock:
        _clients.clear()


def _forget_clients_after_fork() -> None:
    # A fresh lock, not the parent's: another thread may have held it at the moment of the fork.
    global _clients_lock
    _clients_lock = threading.Lock()
    _clients.clear()


register_client_resetter(_reset_clients)
local_state.register("sagemaker_clients", after_fork=_forget_clients_after_fork)


class SageMakerBackend(Backend):
    """`invoke_endpoint` on ENDPOINT_NAME (at ENDPOINT_URL when set, e.g. `model/serve.py`)."""

    name = "sagemaker"
    settings: ClassVar[dict[str, Setting]] = {
        "ENDPOINT_URL": Setting(
            None,
            Optional(inner=Text(empty=False)),
            "Override of the SageMaker Runtime URL (a local server, a VPC endpoint); None means AWS itself.",
        ),
    }

    @classmethod
    def checks(cls) -> list[CheckMessage]:
        """ENDPOINT_NAME names the SageMaker endpoint: without it no call can be made."""
        if app_settings.ENDPOINT_NAME:
            return []
        return [
            Error(
                "settings.RECOMMENDATIONS['ENDPOINT_NAME'] is empty but the sagemaker backend needs it.",
                hint='Set it to the name of your SageMaker endpoint, or set BACKEND to "none" to '
                "serve the fallback ranking alone until there is one.",
                id="recommendations.E003",
            )
        ]

    @classmethod
    def location(cls) -> str:
        """The region, and ENDPOINT_URL when one is set."""
        region = app_settings.REGION or "the default region"
        if app_settings.ENDPOINT_URL:
            return f"in region {region} at the ENDPOINT_URL"
        return f"in region {region}"

    @classmethod
    def health_hint(cls, error: EndpointError) -> str | None:
        """Where to look when nothing answered: ENDPOINT_URL, the network and the region."""
        if isinstance(error, EndpointUnavailable) and error.reason == "connection":
            detail = f" ({error.error_code}: {error.detail})" if error.detail else ""
            return (
                f"Could not connect {cls.location()}{detail}: nothing answered. Check "
                "ENDPOINT_URL, the network path and the region."
            )
        return None

    @property
    def endpoint_label(self) -> str:
        """The endpoint name, as logs and errors call it."""
        return str(app_settings.ENDPOINT_NAME or "")

    def warm_up(self, purpose: str = "page") -> None:
        """Create the client for `purpose` now, so the first page view does not pay for it."""
        self._client(call_policy(purpose))

    def is_warm(self, purpose: str = "page") -> bool:
        """Whether the client for `purpose` and the current settings exists in this process."""
        return _client_key(call_policy(purpose)) in _clients

    def _client(self, policy: CallPolicy) -> Any:
        try:
            return runtime_client(policy)
        except BotoCoreError as err:
            raise error_from_botocore(err, self.endpoint_label) from err
        except ValueError as err:
            # botocore rejects a malformed endpoint_url with a plain ValueError.
            raise EndpointMisconfigured(
                endpoint=self.endpoint_label,
                error_code=type(err).__name__,
                detail="RECOMMENDATIONS['ENDPOINT_URL'] is not a valid URL",
            ) from err

    def invoke(
        self, body: bytes, *, policy: CallPolicy, target_variant: str | None
    ) -> EndpointResponse:
        """One `invoke_endpoint` call; every botocore error becomes an EndpointError."""
        endpoint = self.endpoint_label
        if not endpoint:
            raise EndpointMisconfigured(
                "RECOMMENDATIONS['ENDPOINT_NAME'] is empty; the sagemaker backend needs it"
            )
        params: dict[str, Any] = {
            "EndpointName": endpoint,
            "Body": body,
            "ContentType": self.codec.content_type,
            "Accept": self.codec.accept,
        }
        if target_variant:
            params["TargetVariant"] = target_variant
        if app_settings.CUSTOM_ATTRIBUTES:
            params["CustomAttributes"] = str(app_settings.CUSTOM_ATTRIBUTES)
        client = self._client(policy)
        try:
            response = client.invoke_endpoint(**params)
            # Reading the body can time out or break too, so it stays inside the mapping.
            payload = read_limited(response["Body"], policy.max_answer_bytes, endpoint)
        except ClientError as err:
            raise error_from_client_error(err, endpoint) from err
        except BotoCoreError as err:
            raise error_from_botocore(err, endpoint) from err
        return EndpointResponse(
            body=payload,
            variant=response.get("InvokedProductionVariant"),
            content_type=response.get("ContentType"),
        )


def read_limited(body: Any, limit: int | None, endpoint: str) -> bytes:
    """The whole StreamingBody, or BadResponse as soon as it is longer than `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    # iter_chunks reads to the end, where botocore checks the length against Content-Length.
    for chunk in body.iter_chunks(READ_CHUNK_BYTES):
        size += len(chunk)
        if limit is not None and size > limit:
            body.close()  # the rest is never read; the connection is dropped, not pooled
            raise BadResponse(endpoint=endpoint, detail=f"the answer is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def error_from_client_error(err: ClientError, endpoint: str) -> EndpointError:
    """The app's error for an error answer of SageMaker Runtime."""
    answer = err.response or {}
    error = answer.get("Error") or {}
    metadata = answer.get("ResponseMetadata") or {}
    original_status = answer.get("OriginalStatusCode")
    return error_for_answer(
        endpoint=endpoint,
        error_code=error.get("Code"),
        status_code=metadata.get("HTTPStatusCode"),
        message=error.get("Message", ""),
        request_id=metadata.get("RequestId"),
        original_status_code=original_status if isinstance(original_status, int) else None,
    )


def error_from_botocore(err: BotoCoreError, endpoint: str) -> EndpointError:
    """The app's error for a botocore failure that is not an answer (network, credentials, ...)."""
    fields: dict[str, Any] = {
        "endpoint": endpoint,
        "error_code": type(err).__name__,
        # botocore's messages name the URL or the missing piece, never a credential.
        "detail": str(err),
    }
    # Timeouts first: ConnectTimeoutError is also a botocore ConnectionError.
    if isinstance(err, ReadTimeoutError | ConnectTimeoutError):
        return EndpointTimeout(**fields)
    if isinstance(err, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return EndpointAuthError(reason="no_credentials", **fields)
    if isinstance(err, NoRegionError):
        fields["detail"] = "no AWS region: set RECOMMENDATIONS['REGION'] or AWS_DEFAULT_REGION"
        return EndpointMisconfigured(**fields)
    if isinstance(err, ParamValidationError):
        # Client-side validation: the request never left, and the endpoint is not at fault.
        # Only the first line: the rest could quote parameter values.
        return EndpointRejected(**fields)
    if isinstance(err, BotoConnectionError | HTTPClientError):
        return EndpointUnavailable(reason="connection", **fields)
    return EndpointUnavailable(**fields)
