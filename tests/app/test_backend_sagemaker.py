"""The SageMaker backend: real boto3 over real HTTP to a scripted endpoint, every error mapped."""

import json
import os
import threading
import time

import botocore.exceptions
import pytest

from recommendations.backends import get_backend, reset_clients
from recommendations.backends.base import TIMEOUT_SHARE, PredictionRequest, call_policy
from recommendations.backends.codecs import JSONCodec
from recommendations.backends.sagemaker import SageMakerBackend, runtime_client
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
ENDPOINT = "shop-recommender"
CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture
def configure(settings):
    """Point the app at a URL with these RECOMMENDATIONS overrides."""

    def apply(url: str, **overrides):
        settings.RECOMMENDATIONS = {
            "BACKEND": "sagemaker",
            "ENDPOINT_NAME": ENDPOINT,
            "ENDPOINT_URL": url,
            "REGION": "eu-west-1",
            "BUDGET_MS": 500,
            **overrides,
        }

    return apply


def ask(num_results: int = 3, **kwargs) -> PredictionRequest:
    return PredictionRequest(user_key="p-7f3a", num_results=num_results, **kwargs)


def call(**kwargs):
    return get_backend().recommend(ask(), **kwargs)


def failure(**kwargs) -> EndpointError:
    with pytest.raises(EndpointError) as caught:
        call(**kwargs)
    return caught.value


# --- the happy path -------------------------------------------------------------------------


def test_invoke_endpoint_round_trip(scripted_endpoint, configure):
    configure(scripted_endpoint.url, TARGET_VARIANT="blue", CUSTOM_ATTRIBUTES="trace=abc")
    scripted_endpoint.script(
        ok(
            model_answer("12", 7, "3", model_version="2024-05-01"),
            headers={"X-Amzn-Invoked-Production-Variant": "blue"},
        )
    )
    prediction = get_backend().recommend(ask(exclude=("99",), context={"page": "home"}))

    assert prediction.item_ids == ("12", "7", "3")
    assert prediction.model_version == "2024-05-01"
    assert prediction.variant == "blue"
    (received,) = scripted_endpoint.received
    assert received.path == f"/endpoints/{ENDPOINT}/invocations"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["accept"] == "application/json"
    assert received.headers["x-amzn-sagemaker-target-variant"] == "blue"
    assert received.headers["x-amzn-sagemaker-custom-attributes"] == "trace=abc"
    assert json.loads(received.body) == {
        "user_id": "p-7f3a",
        "num_results": 3,
        "exclude": ["99"],
        "context": {"page": "home"},
    }


def test_requests_are_sigv4_signed_and_the_secret_never_travels(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    call()
    (received,) = scripted_endpoint.received
    assert sigv4_is_valid(
        received,
        host_url=scripted_endpoint.url,
        access_key=TEST_ACCESS_KEY,
        secret_key=TEST_SECRET,
        service="sagemaker",
        region="eu-west-1",
    )
    assert not sigv4_is_valid(
        received,
        host_url=scripted_endpoint.url,
        access_key=TEST_ACCESS_KEY,
        secret_key="another-secret",
        service="sagemaker",
        region="eu-west-1",
    )
    assert TEST_SECRET.encode() not in received.raw_head + received.body


def test_batch_is_one_call_answered_in_order(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    scripted_endpoint.script(
        ok({"predictions": [model_answer("1"), model_answer("2", prior=True), model_answer()]})
    )
    requests = [PredictionRequest(user_key=f"p-{n}", num_results=5) for n in range(3)]
    predictions = get_backend().recommend_many(requests, purpose="task")

    assert [p.item_ids for p in predictions] == [("1",), ("2",), ()]
    assert [p.prior for p in predictions] == [False, True, False]
    (received,) = scripted_endpoint.received
    assert [i["user_id"] for i in json.loads(received.body)["instances"]] == ["p-0", "p-1", "p-2"]


def test_explicit_target_variant_wins_over_the_setting(scripted_endpoint, configure):
    configure(scripted_endpoint.url, TARGET_VARIANT="blue")
    call(target_variant="green")
    assert scripted_endpoint.received[0].headers["x-amzn-sagemaker-target-variant"] == "green"


def test_sagemaker_json_codec_sends_instances(scripted_endpoint, configure):
    configure(scripted_endpoint.url, CODEC="sagemaker_json")
    scripted_endpoint.script(ok({"predictions": [model_answer("4")]}))
    assert call().item_ids == ("4",)
    assert "instances" in json.loads(scripted_endpoint.received[0].body)


def test_one_client_per_process_reused_across_calls_and_threads(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    policy = call_policy("page")
    clients = []
    threads = [
        threading.Thread(target=lambda: clients.append(runtime_client(policy))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in clients}) == 1

    call()
    call()
    # Keep-alive: the second call reuses the pooled connection instead of opening a new one.
    ports = [received.client_port for received in scripted_endpoint.received]
    assert ports[0] == ports[1]


def test_client_is_configured_from_the_call_policy(configure, scripted_endpoint):
    configure(scripted_endpoint.url, BUDGET_MS=150, MAX_POOL_CONNECTIONS=7, TASK_MAX_ATTEMPTS=4)
    page = runtime_client(call_policy("page")).meta.config
    task = runtime_client(call_policy("task")).meta.config
    # The socket timeouts take TIMEOUT_SHARE of the 150 ms budget (headroom for late wake-ups).
    assert page.connect_timeout + page.read_timeout == pytest.approx(0.150 * TIMEOUT_SHARE)
    assert page.retries == {"mode": "standard", "total_max_attempts": 1}
    assert task.retries == {"mode": "standard", "total_max_attempts": 4}
    assert page.max_pool_connections == task.max_pool_connections == 7


# --- error answers --------------------------------------------------------------------------

# (answer, error class, reason, retryable, trips_breaker)
ERROR_ANSWERS = {
    "ModelError": (
        aws_error(
            424,
            "ModelError",
            'Received server error (500) from primary with message "boom".',
            OriginalStatusCode=500,
            OriginalMessage="boom",
            LogStreamArn="arn:aws:logs:eu-west-1:000000000000:log-group:/aws/sagemaker/x",
        ),
        EndpointModelError,
        "model_error",
        False,
        True,
    ),
    "ValidationError": (
        aws_error(400, "ValidationError", "1 validation error detected: Value at 'body'"),
        EndpointRejected,
        "validation",
        False,
        False,
    ),
    "unknown endpoint": (
        aws_error(400, "ValidationError", f"Endpoint {ENDPOINT} of account 0000 not found."),
        EndpointNotFound,
        "not_found",
        False,
        True,
    ),
    "ThrottlingException 400": (
        aws_error(400, "ThrottlingException", "Rate exceeded"),
        EndpointThrottled,
        "throttled",
        True,
        True,
    ),
    "ThrottlingException 429": (
        aws_error(429, "ThrottlingException", "Rate exceeded"),
        EndpointThrottled,
        "throttled",
        True,
        True,
    ),
    "ServiceUnavailable": (
        aws_error(503, "ServiceUnavailable", "Service Unavailable"),
        EndpointUnavailable,
        "unavailable",
        True,
        True,
    ),
    "InternalFailure": (
        aws_error(500, "InternalFailure", "An internal failure occurred"),
        EndpointUnavailable,
        "unavailable",
        True,
        True,
    ),
    "InternalDependencyException": (
        aws_error(530, "InternalDependencyException", "dependency failed"),
        EndpointUnavailable,
        "unavailable",
        True,
        True,
    ),
    "ModelNotReadyException": (
        aws_error(429, "ModelNotReadyException", "Model is not ready"),
        EndpointUnavailable,
        "unavailable",
        True,
        True,
    ),
    "bare 502 from a proxy": (
        Answer(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}),
        EndpointUnavailable,
        "unavailable",
        True,
        True,
    ),
}
# The codes AWS uses for bad, expired, unknown or unauthorised credentials, with their statuses.
AUTH_ANSWERS = [
    (403, "UnrecognizedClientException"),
    (403, "InvalidSignatureException"),
    (403, "IncompleteSignatureException"),
    (403, "MissingAuthenticationTokenException"),
    (403, "AccessDeniedException"),
    (403, "ExpiredTokenException"),
    (403, "InvalidClientTokenId"),
    (400, "RequestExpired"),
    (403, None),
]


@pytest.mark.parametrize("case", list(ERROR_ANSWERS), ids=list(ERROR_ANSWERS))
def test_error_answers_map_to_the_app_errors(case, scripted_endpoint, configure):
    answer, error_class, reason, retryable, trips_breaker = ERROR_ANSWERS[case]
    configure(scripted_endpoint.url)
    scripted_endpoint.script(answer)
    error = failure()

    assert type(error) is error_class
    assert (error.reason, error.retryable, error.trips_breaker) == (
        reason,
        retryable,
        trips_breaker,
    )
    assert error.status_code == answer.status
    assert error.endpoint == ENDPOINT
    assert isinstance(error.__cause__, botocore.exceptions.ClientError)
    assert error.error_code == error.__cause__.response["Error"]["Code"]
    assert ENDPOINT in str(error)


def test_model_error_keeps_the_containers_status(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    scripted_endpoint.script(ERROR_ANSWERS["ModelError"][0])
    error = failure()
    assert error.error_code == "ModelError"
    assert error.original_status_code == 500
    assert error.request_id == "req-0001"


@pytest.mark.parametrize(("status", "code"), AUTH_ANSWERS)
def test_credential_errors_map_to_auth(status, code, scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    scripted_endpoint.script(aws_error(status, code, "The security token is invalid."))
    error = failure()
    assert type(error) is EndpointAuthError
    assert (error.reason, error.retryable, error.trips_breaker) == ("auth", False, True)
    assert error.status_code == status


def test_a_garbage_body_is_a_bad_response(scripted_endpoint, configure):
    configure(scripted_endpoint.url)
    scripted_endpoint.script(Answer(200, b"\x00\x01 not json", {"Content-Type": "text/plain"}))
    error = failure()
    assert type(error) is BadResponse
    assert error.endpoint == ENDPOINT
    assert error.trips_breaker


# --- failures without an answer -------------------------------------------------------------


def test_connection_refused_is_unavailable(refused_url, configure):
    configure(refused_url)
    error = failure()
    assert type(error) is EndpointUnavailable
    assert error.reason == "connection"
    assert error.error_code == "EndpointConnectionError"
    assert isinstance(error.__cause__, botocore.exceptions.EndpointConnectionError)
    assert isinstance(error, ConnectionError)


def test_a_hanging_endpoint_times_out_within_the_budget(scripted_endpoint, configure):
    configure(scripted_endpoint.url, BUDGET_MS=300)
    scripted_endpoint.script(Answer(delay=10))
    started = time.monotonic()
    error = failure()
    elapsed = time.monotonic() - started

    assert type(error) is EndpointTimeout
    assert (error.reason, error.error_code) == ("timeout", "ReadTimeoutError")
    assert isinstance(error, TimeoutError)
    # botocore's default read timeout is 60 s; this proves the budget's is used (generous margin).
    assert elapsed < 3


def test_a_connect_that_never_completes_times_out(unaccepting_url, configure):
    configure(unaccepting_url, BUDGET_MS=300)
    error = failure()
    assert type(error) is EndpointTimeout
    assert error.error_code == "ConnectTimeoutError"


def test_no_credentials_at_all(scripted_endpoint, configure, monkeypatch):
    configure(scripted_endpoint.url)
    call()  # a client with the test credentials now exists
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_clients()

    error = failure()
    assert type(error) is EndpointAuthError
    assert (error.reason, error.error_code) == ("no_credentials", "NoCredentialsError")
    assert isinstance(error.__cause__, botocore.exceptions.NoCredentialsError)
    # Nothing unsigned went out.
    assert len(scripted_endpoint.received) == 1


def test_no_endpoint_name_is_a_configuration_error(scripted_endpoint, configure):
    configure(scripted_endpoint.url, ENDPOINT_NAME="")
    error = failure()
    assert type(error) is EndpointMisconfigured
    assert not error.trips_breaker
    assert scripted_endpoint.received == []


def test_a_malformed_endpoint_url_is_a_configuration_error(configure):
    configure("not a url")
    assert type(failure()) is EndpointMisconfigured


def test_no_region_is_a_configuration_error(scripted_endpoint, configure, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    configure(None, REGION=None)
    error = failure()
    assert type(error) is EndpointMisconfigured
    assert "region" in str(error)


class NoBodyCodec(JSONCodec):
    """A broken custom codec: its encode returns no bytes, which botocore refuses to send."""

    def encode(self, requests):
        return None


def test_a_request_botocore_refuses_is_rejected_before_sending(scripted_endpoint, configure):
    configure(scripted_endpoint.url, CODEC="tests.app.test_backend_sagemaker.NoBodyCodec")
    error = failure()
    assert error.error_code == "ParamValidationError"
    assert type(error) is EndpointRejected
    assert not error.trips_breaker
    assert scripted_endpoint.received == []


# --- attempts -------------------------------------------------------------------------------


def test_task_path_retries_a_5xx_with_botocore_standard_mode(scripted_endpoint, configure):
    configure(scripted_endpoint.url, TASK_MAX_ATTEMPTS=2)
    scripted_endpoint.script(
        aws_error(503, "ServiceUnavailable", "busy"), ok(model_answer("8", "9"))
    )
    assert call(purpose="task").item_ids == ("8", "9")
    assert len(scripted_endpoint.received) == 2


def test_page_path_does_not_retry_a_5xx(scripted_endpoint, configure):
    configure(scripted_endpoint.url, MAX_ATTEMPTS=2)
    scripted_endpoint.script(
        aws_error(503, "ServiceUnavailable", "busy"), ok(model_answer("8", "9"))
    )
    assert type(failure()) is EndpointUnavailable
    assert len(scripted_endpoint.received) == 1


def test_page_path_retries_a_timeout_within_the_budget(scripted_endpoint, configure):
    # A budget of 3 s gives each of the two attempts a read timeout of about 0.7 s: the second,
    # answered at once, has room on a loaded machine (with 600 ms, 140 ms was too short under CI).
    configure(scripted_endpoint.url, MAX_ATTEMPTS=2, BUDGET_MS=3000)
    scripted_endpoint.script(Answer(delay=10), ok(model_answer("5")))
    assert call().item_ids == ("5",)
    assert len(scripted_endpoint.received) == 2


# --- secrets --------------------------------------------------------------------------------


def everything_said_by(error: BaseException) -> str:
    """str and repr of an error, its causes, and their attributes: all a log could print."""
    said = []
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        said += [str(current), repr(current), repr(vars(current))]
        # A transport exception may hold the request it failed on, headers and all.
        said.append(repr(getattr(getattr(current, "request", None), "headers", None)))
        current = current.__cause__ or current.__context__
    return "\n".join(said)


def test_errors_never_carry_credentials(scripted_endpoint, refused_url, configure, monkeypatch):
    session_token = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"
    monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    reset_clients()
    # AWS appends the canonical request to signature errors; it quotes the signed headers.
    canonical = (
        "The request signature we calculated does not match.\n\n"
        f"The Canonical String should have been\n'POST\nx-amz-security-token:{session_token}\n'"
    )
    errors = []
    configure(scripted_endpoint.url)
    for answer in (
        aws_error(403, "InvalidSignatureException", canonical),
        aws_error(403, "UnrecognizedClientException", f"Unknown key {TEST_ACCESS_KEY}."),
        Answer(delay=10),
    ):
        scripted_endpoint.script(answer)
        errors.append(failure())
    configure(refused_url)
    errors.append(failure())
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_clients()
    errors.append(failure())

    for error in errors:
        assert TEST_SECRET not in everything_said_by(error)
        assert session_token not in str(error)
        assert TEST_ACCESS_KEY not in str(error)
        assert session_token not in repr(vars(error))
    assert "does not match" in str(errors[0])
    assert [e.reason for e in errors] == ["auth", "auth", "timeout", "connection", "no_credentials"]


def test_environment_secret_is_the_one_the_suite_expects():
    # tests/settings.py plants this secret so that log and error checks have something to find.
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == TEST_SECRET


def test_backend_is_the_sagemaker_one(configure, scripted_endpoint):
    configure(scripted_endpoint.url)
    assert isinstance(get_backend(), SageMakerBackend)


# --- through the real local endpoint (model/serve.py) -----------------------------------------


@pytest.mark.integration
def test_round_trip_through_the_model_server(model_server, settings):
    settings.RECOMMENDATIONS = {**model_server.recommendations_settings(), "BUDGET_MS": 2000}
    known = model_server.known_user_ids[0]
    requests = [
        PredictionRequest(user_key=known, num_results=5),
        PredictionRequest(user_key="never-seen-user", num_results=5),
    ]
    single = get_backend().recommend(requests[0])
    batch = get_backend().recommend_many(requests, purpose="task")

    assert len(single.item_ids) == 5
    assert single.model_version
    assert not single.prior
    assert batch[0].item_ids == single.item_ids
    assert batch[1].prior
    assert len(batch[1].item_ids) == 5
    assert model_server.invocations() == 2


@pytest.mark.integration
@pytest.mark.parametrize(
    ("mode", "error_class"),
    [
        ("throttle", EndpointThrottled),
        ("http500", EndpointUnavailable),
        ("unavailable", EndpointUnavailable),
        ("model_error", EndpointModelError),
        ("garbage", BadResponse),
        ("hang", EndpointTimeout),
    ],
)
def test_model_server_faults_map_to_the_app_errors(model_server, settings, mode, error_class):
    settings.RECOMMENDATIONS = {**model_server.recommendations_settings(), "BUDGET_MS": 300}
    model_server.set_fault(mode)
    error = failure()
    assert type(error) is error_class
    assert error.endpoint == model_server.endpoint_name


@pytest.mark.integration
def test_model_server_refuses_wrong_credentials(model_server, settings, monkeypatch):
    settings.RECOMMENDATIONS = model_server.recommendations_settings()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-wrong-secret")
    reset_clients()
    error = failure()
    assert type(error) is EndpointAuthError
    assert error.status_code == 403


@pytest.mark.integration
def test_model_server_unknown_endpoint_is_not_found(model_server, settings):
    settings.RECOMMENDATIONS = {**model_server.recommendations_settings(), "ENDPOINT_NAME": "nope"}
    error = failure()
    assert type(error) is EndpointNotFound
    assert error.trips_breaker
