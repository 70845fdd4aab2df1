"""The HTTP backend (API Gateway in front of SageMaker): real requests over real HTTP, every
status and failure mapped to the same errors as the SageMaker backend."""

import json
import time

import pytest
import requests

from recommendations.backends import get_backend, reset_clients
from recommendations.backends.base import PredictionRequest
from recommendations.backends.http import HTTPBackend, signing_region
from recommendations.exceptions import (
    BadResponse,
    EndpointAuthError,
    EndpointError,
    EndpointMisconfigured,
    EndpointModelError,
    EndpointNotFound,
    EndpointRejected,
    EndpointThrottled,
    EndpointTimeout,
    EndpointUnavailable,
)
from tests.app.test_backend_sagemaker import (
    CREDENTIAL_ENV,
    everything_said_by,
)
from tests.support.aws_keys import TEST_ACCESS_KEY, TEST_SECRET
from tests.support.scripted_endpoint import (
    Answer,
    aws_error,
    model_answer,
    ok,
    refused_url_fixture,  # noqa: F401 (fixture "refused_url")
    scripted_endpoint_fixture,  # noqa: F401 (fixture "scripted_endpoint")
    sigv4_is_valid,
    unaccepting_url_fixture,  # noqa: F401 (fixture "unaccepting_url")
)

pytestmark = pytest.mark.usefixtures("fresh_clients", "test_keys")

API_KEY = "apigw-key-0123456789abcdef"
PATH = "/prod/recommend"


@pytest.fixture
def configure(settings):
    """Point the http backend at a base URL with these RECOMMENDATIONS overrides."""

    def apply(base_url: str, **overrides):
        settings.RECOMMENDATIONS = {
            "BACKEND": "http",
            "HTTP_URL": base_url + PATH,
            "HTTP_API_KEY": API_KEY,
            "REGION": "eu-west-1",
            "BUDGET_MS": 500,
            **overrides,
        }

    return apply


def call(**kwargs):
    return get_backend().recommend(PredictionRequest(user_key="p-7f3a", num_results=3), **kwargs)


def failure(**kwargs) -> EndpointError:
    with pytest.raises(EndpointError) as caught:
        call(**kwargs)
    return caught.value


# --- the happy path -------------------------------------------------------------------------


def test_api_key_round_trip(scripted_endpoint, configure):
    configure(scripted_endpoint.url, TARGET_VARIANT="blue", CUSTOM_ATTRIBUTES="trace=abc")
    scripted_endpoint.script(
        ok(
            model_answer("3", 4, model_version="v9"),
            headers={"X-Amzn-Invoked-Production-Variant": "blue"},
        )
    )
    prediction = call()

    assert prediction.item_ids == ("3", "4")
    assert (prediction.model_version, prediction.variant) == ("v9", "blue")
    (received,) = scripted_endpoint.received
    assert (received.method, received.path) == ("POST", PATH)
    assert received.headers["x-api-key"] == API_KEY
    assert "authorization" not in received.headers
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-amzn-sagemaker-target-variant"] == "blue"
    assert received.headers["x-amzn-sagemaker-custom-attributes"] == "trace=abc"
    assert json.loads(received.body)["user_id"] == "p-7f3a"


def test_without_an_api_key_requests_are_sigv4_signed(scripted_endpoint, configure):
    configure(scripted_endpoint.url, HTTP_API_KEY="")
    call()
    (received,) = scripted_endpoint.received
    assert "x-api-key" not in received.headers
    assert sigv4_is_valid(
        received,
        host_url=scripted_endpoint.url,
        access_key=TEST_ACCESS_KEY,
        secret_key=TEST_SECRET,
        service="execute-api",
        region="eu-west-1",
    )
    assert TEST_SECRET.encode() not in received.raw_head + received.body


def test_signing_region_comes_from_the_execute_api_host(settings, monkeypatch):
    settings.RECOMMENDATIONS = {"REGION": None}
    assert (
        signing_region("https://a1b2.execute-api.ap-south-1.amazonaws.com/prod/x") == "ap-south-1"
    )
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert signing_region("https://recs.example.com/x") == "ca-central-1"


def test_sessions_keep_connections_alive(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    call()
    call()
    ports = [received.client_port for received in scripted_endpoint.received]
    assert ports[0] == ports[1]


def test_backend_is_the_http_one(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    assert isinstance(get_backend(), HTTPBackend)


# --- error answers --------------------------------------------------------------------------

# API Gateway's own error shapes (x-amzn-ErrorType and {"message": ...}), a bare status from a
# load balancer, and SageMaker errors a Lambda passes through.
ERROR_ANSWERS = {
    "429 usage plan": (aws_error(429, "TooManyRequestsException", "Too Many Requests"), EndpointThrottled),
    "429 bare": (Answer(429, b""), EndpointThrottled),
    "throttling passed through": (aws_error(400, "ThrottlingException", "Rate exceeded"), EndpointThrottled),
    "403 forbidden": (aws_error(403, "ForbiddenException", "Forbidden"), EndpointAuthError),
    "403 missing token": (Answer(403, b'{"message":"Missing Authentication Token"}'), EndpointAuthError),
    "403 bad signature": (aws_error(403, "InvalidSignatureException", "no match"), EndpointAuthError),
    "401": (aws_error(401, "UnauthorizedException", "Unauthorized"), EndpointAuthError),
    "500": (aws_error(500, None, "Internal server error"), EndpointUnavailable),
    "502 from lambda": (Answer(502, b'{"message": "Internal server error"}'), EndpointUnavailable),
    "503": (aws_error(503, "ServiceUnavailable", "busy"), EndpointUnavailable),
    "504 integration timeout": (aws_error(504, None, "Endpoint request timed out"), EndpointTimeout),
    "model error passed through": (aws_error(424, "ModelError", "boom", OriginalStatusCode=500), EndpointModelError),
    "model not ready passed through": (aws_error(429, "ModelNotReadyException", "warming"), EndpointUnavailable),
    "400": (aws_error(400, "BadRequestException", "Invalid request body"), EndpointRejected),
    "404": (Answer(404, b"Not Found"), EndpointNotFound),
    "302": (Answer(302, b"", {"Location": "https://elsewhere.example/"}), EndpointUnavailable),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ERROR_ANSWERS), ids=list(ERROR_ANSWERS))
def test_error_answers_map_to_the_app_errors(case, scripted_endpoint, configure):
    answer, error_class = ERROR_ANSWERS[case]
    configure(scripted_endpoint.url)
    scripted_endpoint.script(answer)
    error = failure()
    assert type(error) is error_class
    assert error.status_code == answer.status
    assert error.endpoint == scripted_endpoint.url + PATH
    # Not followed: a redirect is no answer from the endpoint.
    assert len(scripted_endpoint.received) == 1


def test_error_code_and_container_status_are_kept(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    scripted_endpoint.script(ERROR_ANSWERS["model error passed through"][0])
    error = failure()
    assert (error.error_code, error.original_status_code) == ("ModelError", 500)
    assert error.request_id == "req-0001"
    assert not error.retryable and error.trips_breaker


def test_a_garbage_body_is_a_bad_response(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    scripted_endpoint.script(Answer(200, b"<html>hello</html>"))
    assert type(failure()) is BadResponse


# --- failures without an answer -------------------------------------------------------------


def test_connection_refused_is_unavailable(refused_url, configure):
    configure(refused_url)
    error = failure()
    assert type(error) is EndpointUnavailable
    assert error.reason == "connection"
    assert isinstance(error.__cause__, requests.exceptions.ConnectionError)


def test_a_hanging_endpoint_times_out_within_the_budget(scripted_endpoint, configure):
    configure(scripted_endpoint.url, BUDGET_MS=300)
    scripted_endpoint.script(Answer(delay=10))
    started = time.monotonic()
    error = failure()
    assert type(error) is EndpointTimeout
    assert error.error_code == "ReadTimeout"
    assert time.monotonic() - started < 3  # the budget's timeout, not a default (generous margin)


def test_a_connect_that_never_completes_times_out(unaccepting_url, configure):
    configure(unaccepting_url, BUDGET_MS=300)
    error = failure()
    assert type(error) is EndpointTimeout
    assert error.error_code == "ConnectTimeout"


def test_task_path_read_timeouts_after_retries_are_still_timeouts(scripted_endpoint, configure):
    configure(scripted_endpoint.url, TASK_READ_TIMEOUT=0.2, TASK_MAX_ATTEMPTS=2)
    scripted_endpoint.script(Answer(delay=10))
    error = failure(purpose="task")
    assert type(error) is EndpointTimeout
    assert len(scripted_endpoint.received) == 2


def test_task_path_retries_a_5xx(scripted_endpoint, configure):
    configure(scripted_endpoint.url, TASK_MAX_ATTEMPTS=2)
    scripted_endpoint.script(aws_error(503, "ServiceUnavailable", "busy"), ok(model_answer("6")))
    assert call(purpose="task").item_ids == ("6",)
    assert len(scripted_endpoint.received) == 2


def test_page_path_does_not_retry_throttling(scripted_endpoint, configure):
    configure(scripted_endpoint.url, MAX_ATTEMPTS=3)
    scripted_endpoint.script(aws_error(429, "TooManyRequestsException", "slow down"))
    assert type(failure()) is EndpointThrottled
    assert len(scripted_endpoint.received) == 1


def test_no_credentials_and_no_api_key(scripted_endpoint, configure, monkeypatch):
    configure(scripted_endpoint.url, HTTP_API_KEY="")
    call()
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_clients()

    error = failure()
    assert type(error) is EndpointAuthError
    assert error.reason == "no_credentials"
    assert len(scripted_endpoint.received) == 1  # nothing unsigned went out


@pytest.mark.parametrize("url", ["", "not a url", "ftp://example.com/x"])
def test_an_unusable_url_is_a_configuration_error(url, settings):
    settings.RECOMMENDATIONS = {"BACKEND": "http", "HTTP_URL": url, "HTTP_API_KEY": API_KEY}
    error = failure()
    assert type(error) is EndpointMisconfigured
    assert not error.trips_breaker


# --- secrets --------------------------------------------------------------------------------


def test_errors_never_carry_the_api_key_or_the_secret(scripted_endpoint, refused_url, configure):
    errors = []
    configure(scripted_endpoint.url)
    for answer in (
        aws_error(403, "ForbiddenException", "Forbidden"),
        aws_error(500, None, "Internal server error"),
        Answer(delay=10),
    ):
        scripted_endpoint.script(answer)
        errors.append(failure())
    configure(refused_url)
    errors.append(failure())
    configure(scripted_endpoint.url, HTTP_API_KEY="")
    scripted_endpoint.script(aws_error(403, "InvalidSignatureException", "no match"))
    errors.append(failure())

    for error in errors:
        said = everything_said_by(error)
        assert API_KEY not in said
        assert TEST_SECRET not in said
        assert "Signature=" not in said
    assert [e.reason for e in errors] == ["auth", "unavailable", "timeout", "connection", "auth"]
