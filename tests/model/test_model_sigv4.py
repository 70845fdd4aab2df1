"""SigV4 checking against requests signed by botocore itself, and tampered copies of them."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from model.local_endpoint.sigv4 import SignatureRejected, verify

KEY_ID = "AKIAEXAMPLE000000001"
SECRET = "example-secret-0123456789"
SECRETS = {KEY_ID: SECRET, "AKIAOTHER": "other-secret"}
URL = "http://127.0.0.1:8080/endpoints/demo-recommender/invocations"
BODY = b'{"user_id": "abc"}'


def signed(
    body=BODY,
    url=URL,
    key_id=KEY_ID,
    secret=SECRET,
    service="sagemaker",
    token=None,
    headers=None,
):
    """A request as boto3 would send it: (url, lower-case headers, body)."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
            **(headers or {}),
        },
    )
    SigV4Auth(Credentials(key_id, secret, token), service, "eu-west-1").add_auth(request)
    # The HTTP client adds Host on the wire; the signer signed the value it derives from the URL.
    return (
        url,
        {"host": "127.0.0.1:8080", **{k.lower(): v for k, v in request.headers.items()}},
        body,
    )


def check(url, headers, body, now=None):
    return verify(method="POST", url=url, headers=headers, body=body, secrets=SECRETS, now=now)


def code_of(excinfo):
    return excinfo.value.error.code, excinfo.value.error.status


def test_a_request_signed_by_botocore_is_accepted():
    assert check(*signed()) == KEY_ID


def test_every_configured_key_is_accepted():
    assert check(*signed(key_id="AKIAOTHER", secret="other-secret")) == "AKIAOTHER"


def test_a_session_token_signed_along_is_accepted():
    assert check(*signed(token="session-token")) == KEY_ID


def test_a_signed_payload_hash_header_must_match_the_body():
    url, headers, body = signed(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    assert check(url, headers, body) == KEY_ID
    with pytest.raises(SignatureRejected) as excinfo:
        check(url, headers, b'{"user_id": "xyz"}')
    assert code_of(excinfo) == ("InvalidSignatureException", 403)


def test_wrong_secret_is_an_invalid_signature():
    with pytest.raises(SignatureRejected) as excinfo:
        check(*signed(secret="guessed"))
    assert code_of(excinfo) == ("InvalidSignatureException", 403)


def test_unknown_access_key_is_an_unrecognized_client():
    with pytest.raises(SignatureRejected) as excinfo:
        check(*signed(key_id="AKIANOBODY"))
    assert code_of(excinfo) == ("UnrecognizedClientException", 403)


def test_a_changed_body_breaks_the_signature():
    url, headers, _ = signed()
    with pytest.raises(SignatureRejected) as excinfo:
        check(url, headers, b'{"user_id": "someone-else"}')
    assert code_of(excinfo) == ("InvalidSignatureException", 403)


def test_a_changed_signed_header_breaks_the_signature():
    url, headers, body = signed()
    headers["x-amzn-sagemaker-custom-attributes"] = "trace=2"
    with pytest.raises(SignatureRejected):
        check(url, headers, body)


def test_a_changed_path_breaks_the_signature():
    _, headers, body = signed()
    with pytest.raises(SignatureRejected):
        check(URL.replace("demo-recommender", "other"), headers, body)


def test_an_old_signature_has_expired():
    url, headers, body = signed()
    with pytest.raises(SignatureRejected) as excinfo:
        check(url, headers, body, now=datetime.now(UTC) + timedelta(minutes=6))
    assert code_of(excinfo) == ("InvalidSignatureException", 403)
    assert excinfo.value.error.message.startswith("Signature expired")


def test_a_signature_for_another_service_is_refused():
    with pytest.raises(SignatureRejected) as excinfo:
        check(*signed(service="s3"))
    assert "scoped to correct service" in excinfo.value.error.message


def test_no_authorization_header_is_a_missing_token():
    url, headers, body = signed()
    del headers["authorization"]
    with pytest.raises(SignatureRejected) as excinfo:
        check(url, headers, body)
    assert code_of(excinfo) == ("MissingAuthenticationTokenException", 403)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000001/20240101/eu-west-1/sagemaker, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + "0" * 64,
    ],
)
def test_a_malformed_authorization_header_is_an_incomplete_signature(authorization):
    url, headers, body = signed()
    headers["authorization"] = authorization
    with pytest.raises(SignatureRejected) as excinfo:
        check(url, headers, body)
    assert code_of(excinfo) == ("IncompleteSignatureException", 403)
