"""Checking an AWS Signature Version 4 `Authorization` header, as SageMaker Runtime does.

The signature is recomputed with botocore's own signer (canonical request, string to sign, key
derivation) from the request as received and the secret configured for the header's access key
id, and compared in constant time. Failures raise `SignatureRejected` carrying the AWS error.
"""

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from . import aws_errors
from .aws_errors import AwsError

SERVICE = "sagemaker"
MAX_CLOCK_SKEW = timedelta(minutes=5)
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


class SignatureRejected(Exception):
    """The request is not authenticated; `error` is what to answer."""

    def __init__(self, error: AwsError) -> None:
        super().__init__(error.code)
        self.error = error


def verify(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    now: datetime | None = None,
) -> str:
    """Check the request's SigV4 signature; return the access key id, or raise SignatureRejected.

    `url` is scheme, Host and the raw (still percent-encoded) path and query as received;
    `headers` maps lower-case header names to values.
    """
    authorization = headers.get("authorization")
    if not authorization:
        raise SignatureRejected(aws_errors.missing_authentication())
    match = _AUTHORIZATION.match(authorization)
    if not match:
        raise SignatureRejected(
            aws_errors.incomplete_signature(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                "parameters of an AWS4-HMAC-SHA256 signature."
            )
        )
    scope = match["credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureRejected(aws_errors.incomplete_signature("Credential is malformed."))
    access_key_id, date, region, service, _ = scope
    secret = secrets.get(access_key_id)
    if secret is None:
        raise SignatureRejected(aws_errors.unrecognized_client())
    if service != SERVICE:
        raise SignatureRejected(
            aws_errors.invalid_signature(
                f"Credential should be scoped to correct service: '{SERVICE}'."
            )
        )

    timestamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(timestamp, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRejected(
            aws_errors.incomplete_signature("X-Amz-Date header is missing or malformed.")
        ) from None
    if timestamp[:8] != date:
        raise SignatureRejected(
            aws_errors.invalid_signature("Date in Credential scope does not match X-Amz-Date.")
        )
    now = now or datetime.now(UTC)
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureRejected(
            aws_errors.invalid_signature(
                f"Signature expired: {timestamp} is now earlier than "
                f"{(now - MAX_CLOCK_SKEW).strftime(_TIMESTAMP_FORMAT)} "
                f"({now.strftime(_TIMESTAMP_FORMAT)} - 5 min.)"
            )
        )

    signed_names = match["signed_headers"].split(";")
    if "host" not in signed_names:
        raise SignatureRejected(
            aws_errors.invalid_signature(
                "'Host' must be a 'SignedHeader' in the AWS Authorization."
            )
        )
    content_sha256 = headers.get("x-amz-content-sha256")
    if content_sha256 not in (None, UNSIGNED_PAYLOAD) and not hmac.compare_digest(
        content_sha256, hashlib.sha256(body).hexdigest()
    ):
        raise SignatureRejected(
            aws_errors.invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        )

    # Rebuild the request from exactly the headers the client signed; the signer then produces
    # the same canonical request the client did, if nothing was changed on the way.
    request = AWSRequest(
        method=method,
        url=url,
        headers={name: headers.get(name, "") for name in signed_names},
        data=body,
    )
    request.context["timestamp"] = timestamp
    signer = SigV4Auth(Credentials(access_key_id, secret), service, region)
    canonical_request = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical_request), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureRejected(aws_errors.invalid_signature())
    return access_key_id
