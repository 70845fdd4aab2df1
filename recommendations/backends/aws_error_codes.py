"""AWS error codes (and HTTP statuses) of an endpoint's error answer, mapped to the app's error types.

Shared by the SageMaker and the HTTP backend: SageMaker Runtime and API Gateway use the same AWS
error codes, and a Lambda in between usually passes SageMaker's through.
"""

import re

from ..exceptions import (
    EndpointAuthError,
    EndpointError,
    EndpointModelError,
    EndpointNotFound,
    EndpointRejected,
    EndpointThrottled,
    EndpointTimeout,
    EndpointUnavailable,
)

# Of an error answer only this much is read: its code and message are at the start.
ERROR_BODY_BYTES = 64 * 1024

# Codes that say "slow down" (SageMaker: ThrottlingException; API Gateway usage plans:
# TooManyRequestsException / LimitExceededException; older AWS services: Throttling...).
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
# Codes of missing, wrong, expired or unauthorised credentials. AWS answers most with HTTP 403;
# a few (IncompleteSignature, RequestExpired) come as 400, so the code is checked, not just the status.
AUTH_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "IncompleteSignatureException",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "UnauthorizedException",
        "ForbiddenException",
        "NotAuthorized",
    }
)
# Server-side trouble. ModelNotReadyException comes as HTTP 429 but means "not ready yet", not
# "too many requests", so it is checked before the 429 rule below.
UNAVAILABLE_CODES = frozenset(
    {
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "InternalDependencyException",
        "ModelNotReadyException",
    }
)
TIMEOUT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException"})
MODEL_ERROR_CODE = "ModelError"
# SageMaker answers an unknown endpoint or variant with a ValidationError whose message says so
# ("Invalid target variant" for a variant the endpoint lacks).
_NOT_FOUND = re.compile(
    r"not found|could not find|does not exist|invalid target variant", re.IGNORECASE
)


def error_for_answer(
    *,
    endpoint: str,
    error_code: str | None,
    status_code: int | None,
    message: object = "",
    request_id: str | None = None,
    original_status_code: int | None = None,
) -> EndpointError:
    """The app's error for an error answer with this AWS error code and HTTP status."""
    code = error_code or ""
    status = status_code or 0
    fields = {
        "endpoint": endpoint,
        "error_code": error_code,
        "status_code": status_code,
        "detail": message,
        "request_id": request_id,
    }
    if code == MODEL_ERROR_CODE:
        return EndpointModelError(original_status_code=original_status_code, **fields)
    if code in UNAVAILABLE_CODES:
        return EndpointUnavailable(**fields)
    if code in THROTTLING_CODES or status == 429:
        return EndpointThrottled(**fields)
    if code in AUTH_CODES or status in (401, 403):
        return EndpointAuthError(**fields)
    if code in TIMEOUT_CODES or status in (408, 504):
        return EndpointTimeout(**fields)
    if status >= 500:
        return EndpointUnavailable(**fields)
    if 400 <= status < 500:
        if status == 404 or _NOT_FOUND.search(str(message or "")):
            return EndpointNotFound(**fields)
        return EndpointRejected(**fields)
    # An error code on a non-error status: the endpoint is not behaving like one.
    return EndpointUnavailable(**fields)
