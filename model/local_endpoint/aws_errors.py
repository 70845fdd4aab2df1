"""Error responses in the shape SageMaker Runtime sends them, so botocore maps them the same way.

SageMaker Runtime speaks rest-json: botocore takes the error code from the `x-amzn-ErrorType`
header (the part before ":") and the message from the body's `message`/`Message`; for a modeled
error (ModelError, ValidationError, ...) it also parses the body's members into the response and
raises the client's matching exception class (`client.exceptions.ModelError`).
"""

import json
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "000000000000"  # the local endpoint's stand-in account
_CORAL = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_VALIDATE = "http://internal.amazon.com/coral/com.amazon.coral.validate/"


@dataclass(frozen=True)
class AwsError:
    """An error answer: HTTP status, AWS error code, message and extra modeled body members."""

    status: int
    code: str
    message: str
    members: dict[str, Any] = field(default_factory=dict)
    namespace: str = _CORAL

    def headers(self, request_id: str) -> list[tuple[str, str]]:
        """Response headers, with the code where botocore's rest-json parser reads it first."""
        return [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", f"{self.code}:{self.namespace}"),
            ("x-amzn-RequestId", request_id),
        ]

    def body(self) -> bytes:
        """JSON body; `__type` repeats the code for clients that only read the body."""
        return json.dumps({"__type": self.code, "message": self.message, **self.members}).encode()


def missing_authentication() -> AwsError:
    """No Authorization header at all."""
    return AwsError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")


def unrecognized_client() -> AwsError:
    """An access key id this endpoint does not know."""
    return AwsError(
        403, "UnrecognizedClientException", "The security token included in the request is invalid."
    )


def invalid_signature(message: str | None = None) -> AwsError:
    """A signature that does not match, or one made too long ago."""
    return AwsError(
        403,
        "InvalidSignatureException",
        message
        or "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details.",
    )


def incomplete_signature(message: str) -> AwsError:
    """An Authorization header that is not a well-formed SigV4 one."""
    return AwsError(403, "IncompleteSignatureException", message)


def validation_error(message: str) -> AwsError:
    """A request SageMaker itself rejects (unknown endpoint, oversized body, ...)."""
    return AwsError(400, "ValidationError", message, namespace=_VALIDATE)


def endpoint_not_found(endpoint_name: str) -> AwsError:
    """The endpoint name is not served here."""
    return validation_error(f"Endpoint {endpoint_name} of account {ACCOUNT_ID} not found.")


def model_error(
    original_status: int, original_message: str, endpoint_name: str, region: str
) -> AwsError:
    """The container answered non-200: what InvokeEndpoint returns then (HTTP 424)."""
    kind = "client" if 400 <= original_status < 500 else "server"
    log_group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
    message = (
        f"Received {kind} error ({original_status}) from primary with message "
        f'"{original_message}". See https://{region}.console.aws.amazon.com/cloudwatch/home?'
        f"region={region}#logEventViewer:group={log_group} in account {ACCOUNT_ID} "
        "for more information."
    )
    return AwsError(
        424,
        "ModelError",
        message,
        {
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
            "OriginalStatusCode": original_status,
            "OriginalMessage": original_message,
            "LogStreamArn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{log_group}",
            "Message": message,
        },
    )


def model_timeout(endpoint_name: str, region: str) -> AwsError:
    """The container did not answer in time (SageMaker gives up after 60 s)."""
    message = "Your invocation timed out while waiting for a response from container primary."
    return AwsError(
        424,
        "ModelError",
        message,
        {
            "ErrorCode": "INTERNAL_FAILURE_FROM_MODEL",
            "LogStreamArn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:"
            f"/aws/sagemaker/Endpoints/{endpoint_name}",
            "Message": message,
        },
    )


def internal_failure() -> AwsError:
    """HTTP 500 from the service itself."""
    return AwsError(500, "InternalFailure", "An internal error occurred. Try again.")


def service_unavailable() -> AwsError:
    """HTTP 503: the service cannot take the request now."""
    return AwsError(503, "ServiceUnavailable", "The service is unavailable. Try again later.")


def throttling() -> AwsError:
    """HTTP 429: too many requests for the endpoint's account limits."""
    return AwsError(429, "ThrottlingException", "Rate exceeded")


def unknown_operation() -> AwsError:
    """A path that is no SageMaker Runtime operation."""
    return AwsError(404, "UnknownOperationException", "Unknown operation")
