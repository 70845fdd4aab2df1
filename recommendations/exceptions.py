"""The app's own errors: what can go wrong calling the endpoint, and writing the export, as types.

Backends translate their transport's exceptions (botocore, requests) into these, keeping the
original as `__cause__`. Each class also inherits the matching built-in (`TimeoutError`,
`ConnectionError`, `ValueError`) so generic handlers still work. The message of an error never
carries request headers or credentials: log `str(err)` and `err.reason`, not the cause chain.
"""

import re

from django.core.exceptions import ImproperlyConfigured

# A remote message is kept for diagnosis, but only its first line (AWS appends the canonical
# request to signature errors, and that may include a session token) and never an access key id.
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
_DETAIL_MAX_CHARS = 200


def sanitise_detail(message: object) -> str:
    """First line of a remote error message, shortened, with access key ids masked."""
    if not message:
        return ""
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else ""
    first_line = _ACCESS_KEY_ID.sub("[key id]", first_line)
    if len(first_line) > _DETAIL_MAX_CHARS:
        first_line = first_line[: _DETAIL_MAX_CHARS - 1] + "…"
    return first_line


class RecommendationsError(Exception):
    """Base of every error the app raises on purpose."""


class EndpointError(RecommendationsError):
    """The endpoint call failed; `reason` is a stable slug for logs and metrics."""

    reason: str = "unavailable"
    # A Celery task may try again later (the failure is likely transient).
    retryable: bool = True
    # Counts as a failure for the circuit breaker (the endpoint itself is in trouble).
    trips_breaker: bool = True
    # The request's own input caused it (the same endpoint serves other requests): a batch that
    # fails this way is split, so that the other users in it are still served.
    caused_by_request: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        endpoint: str = "",
        error_code: str | None = None,
        status_code: int | None = None,
        detail: object = "",
        request_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.error_code = error_code
        self.status_code = status_code
        self.detail = sanitise_detail(detail)
        self.request_id = request_id
        if reason is not None:
            self.reason = reason
        super().__init__(message or self._describe())

    def _describe(self) -> str:
        parts = [f"{type(self).__name__} ({self.reason})"]
        if self.endpoint:
            parts.append(f"endpoint={self.endpoint!r}")
        if self.error_code:
            parts.append(f"code={self.error_code}")
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        text = " ".join(parts)
        return f"{text}: {self.detail}" if self.detail else text


class EndpointTimeout(EndpointError, TimeoutError):
    """No answer within the connect or read timeout."""

    reason = "timeout"


class EndpointUnavailable(EndpointError, ConnectionError):
    """The endpoint cannot be reached or answered with a server-side failure (5xx)."""

    reason = "unavailable"


class EndpointThrottled(EndpointError):
    """The endpoint refused the call because of its rate limit."""

    reason = "throttled"


class EndpointModelError(EndpointError):
    """The model container behind the endpoint failed on this request."""

    reason = "model_error"
    # A model that failed on an input tends to fail on it again; Celery retries would only add load.
    retryable = False

    def __init__(self, *args: object, original_status_code: int | None = None, **kwargs) -> None:
        self.original_status_code = original_status_code
        # The container answered 4xx: it refused this input (an exclude list past its limit, say)
        # and is healthy. A 5xx, or no status at all, says nothing of whose fault it was.
        rejected_input = original_status_code is not None and 400 <= original_status_code < 500
        if rejected_input and original_status_code not in (408, 429):
            self.caused_by_request = True
            self.trips_breaker = False
        super().__init__(*args, **kwargs)


class EndpointRejected(EndpointError):
    """The endpoint rejected the request as invalid (4xx): the same request would fail again."""

    reason = "validation"
    retryable = False
    # The endpoint is healthy; it is our request that is wrong.
    trips_breaker = False
    caused_by_request = True


class EndpointNotFound(EndpointRejected):
    """The endpoint or variant does not exist (SageMaker answers this as a ValidationError)."""

    reason = "not_found"
    # Unlike a bad request, every call fails until someone deploys or fixes the name,
    # so the breaker should stop the pages from paying a round trip for it.
    trips_breaker = True
    caused_by_request = False


class EndpointAuthError(EndpointError):
    """Credentials are missing, wrong, expired or not allowed to invoke the endpoint."""

    reason = "auth"
    retryable = False
    # Every call fails the same way until an operator fixes the credentials.
    trips_breaker = True


class EndpointMisconfigured(EndpointError, ImproperlyConfigured):
    """The settings do not allow a call (no endpoint name, URL or region, unknown backend or codec)."""

    reason = "configuration"
    retryable = False
    # No network is touched, so there is nothing for the breaker to save.
    trips_breaker = False


class BadResponse(EndpointError, ValueError):
    """The endpoint answered, but the body cannot be parsed or has the wrong shape."""

    reason = "bad_response"
    retryable = False


class BreakerOpen(EndpointError):
    """The circuit breaker refused the call: the endpoint failed recently and is cooling down.

    No request left the process, so it counts neither for nor against the endpoint.
    """

    reason = "breaker_open"
    retryable = True
    trips_breaker = False

    def __init__(self, *args: object, retry_after: float = 0.0, **kwargs) -> None:
        self.retry_after = retry_after  # seconds until the breaker lets a probe through
        super().__init__(*args, **kwargs)


class ExportError(RecommendationsError):
    """The training-data export could not be written (destination unreachable, refused, misnamed).

    `retryable` says whether trying again later may help (a network error, a 5xx) or not (a bucket
    that does not exist, access denied, a destination that cannot be parsed).
    """

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
