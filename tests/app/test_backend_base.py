"""The backend template method, call policies from the budget, and choosing a backend."""

import pytest
from django.test import override_settings

from recommendations.backends import get_backend, reset_clients
from recommendations.backends.base import (
    TIMEOUT_SHARE,
    Backend,
    CallPolicy,
    EndpointResponse,
    PredictionRequest,
    call_policy,
)
from recommendations.backends.codecs import JSONCodec, SageMakerJSONCodec
from recommendations.backends.http import HTTPBackend
from recommendations.backends.sagemaker import SageMakerBackend
from recommendations.exceptions import (
    BadResponse,
    EndpointMisconfigured,
    EndpointThrottled,
    EndpointTimeout,
    EndpointUnavailable,
)
from tests.support.scripted_endpoint import scripted_endpoint_fixture  # noqa: F401

REQUEST = PredictionRequest(user_key="p-1", num_results=2)
ANSWER = b'{"recommendations": [{"item_id": "1", "score": 0.5}], "model_version": "v"}'


class ScriptedBackend(Backend):
    """Stands in for a transport in these unit tests: `invoke` plays back a script of answers and
    errors, so the template method's own logic (attempts, decoding, variants) can be isolated.
    The real transports are tested over real HTTP in test_backend_sagemaker/test_backend_http."""

    name = "scripted"

    def __init__(self, *script, codec=None):
        super().__init__(codec=codec or JSONCodec())
        self.script = list(script)
        self.policies: list[CallPolicy] = []
        self.bodies: list[bytes] = []

    def invoke(self, body, *, policy, target_variant):
        self.policies.append(policy)
        self.bodies.append(body)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


class ExplodingCodec(JSONCodec):
    def decode(self, body, expected):
        raise KeyError("recommendations")


class ShortCodec(JSONCodec):
    def decode(self, body, expected):
        return []


@pytest.fixture(autouse=True)
def fresh_backends():
    reset_clients()
    yield
    reset_clients()


# --- call policies --------------------------------------------------------------------------


@pytest.mark.parametrize(("budget_ms", "attempts"), [(150, 1), (150, 3), (40, 2), (1000, 1)])
def test_page_timeouts_of_all_attempts_fit_the_budget(settings, budget_ms, attempts):
    settings.RECOMMENDATIONS = {"BUDGET_MS": budget_ms, "MAX_ATTEMPTS": attempts}
    policy = call_policy("page")
    assert policy.attempts == attempts
    assert policy.transport_attempts == 1
    total = policy.attempts * (policy.connect_timeout + policy.read_timeout)
    # The socket timeouts leave headroom within the budget for a late wake-up (TIMEOUT_SHARE).
    assert total == pytest.approx(budget_ms / 1000 * TIMEOUT_SHARE)
    assert total < budget_ms / 1000
    assert 0 < policy.connect_timeout < policy.read_timeout


def test_explicit_page_timeouts_win(settings):
    settings.RECOMMENDATIONS = {"BUDGET_MS": 150, "CONNECT_TIMEOUT": 0.02, "READ_TIMEOUT": 0.1}
    policy = call_policy("page")
    assert (policy.connect_timeout, policy.read_timeout) == (0.02, 0.1)


def test_task_policy_has_no_page_waiting(settings):
    settings.RECOMMENDATIONS = {
        "BUDGET_MS": 150,
        "TASK_READ_TIMEOUT": 12.5,
        "TASK_CONNECT_TIMEOUT": 1.5,
        "TASK_MAX_ATTEMPTS": 4,
    }
    policy = call_policy("task")
    assert (policy.connect_timeout, policy.read_timeout) == (1.5, 12.5)
    assert (policy.attempts, policy.transport_attempts) == (1, 4)


def test_an_unknown_purpose_is_refused():
    with pytest.raises(ValueError):
        call_policy("batch")


# --- the template method --------------------------------------------------------------------


def test_answer_is_decoded_and_the_variant_filled_in():
    backend = ScriptedBackend(EndpointResponse(body=ANSWER, variant="green"))
    prediction = backend.recommend(REQUEST)
    assert (prediction.item_ids, prediction.variant) == (("1",), "green")
    assert backend.bodies == [JSONCodec().encode([REQUEST])]


def test_no_requests_make_no_call():
    backend = ScriptedBackend()
    assert backend.recommend_many([]) == []
    assert backend.policies == []


def test_page_retries_a_timeout_back_to_back(settings):
    settings.RECOMMENDATIONS = {"MAX_ATTEMPTS": 2}
    backend = ScriptedBackend(EndpointTimeout(), EndpointResponse(body=ANSWER))
    assert backend.recommend(REQUEST).item_ids == ("1",)
    assert len(backend.policies) == 2


def test_page_retries_a_dropped_connection(settings):
    settings.RECOMMENDATIONS = {"MAX_ATTEMPTS": 2}
    backend = ScriptedBackend(
        EndpointUnavailable(reason="connection"), EndpointResponse(body=ANSWER)
    )
    assert backend.recommend(REQUEST).item_ids == ("1",)


def test_page_gives_up_after_its_attempts(settings):
    settings.RECOMMENDATIONS = {"MAX_ATTEMPTS": 2}
    backend = ScriptedBackend(EndpointTimeout(), EndpointTimeout(), EndpointResponse(body=ANSWER))
    with pytest.raises(EndpointTimeout):
        backend.recommend(REQUEST)
    assert len(backend.policies) == 2


@pytest.mark.parametrize("error", [EndpointThrottled(), EndpointUnavailable(), BadResponse()])
def test_page_does_not_retry_what_an_immediate_retry_cannot_fix(settings, error):
    settings.RECOMMENDATIONS = {"MAX_ATTEMPTS": 3}
    backend = ScriptedBackend(error, EndpointResponse(body=ANSWER))
    with pytest.raises(type(error)):
        backend.recommend(REQUEST)
    assert len(backend.policies) == 1


def test_task_purpose_passes_the_task_policy(settings):
    settings.RECOMMENDATIONS = {"TASK_MAX_ATTEMPTS": 5}
    backend = ScriptedBackend(EndpointResponse(body=ANSWER))
    backend.recommend(REQUEST, purpose="task")
    assert backend.policies[0].purpose == "task"
    assert backend.policies[0].transport_attempts == 5


def test_a_codec_that_trips_over_the_body_is_a_bad_response():
    backend = ScriptedBackend(EndpointResponse(body=ANSWER), codec=ExplodingCodec())
    with pytest.raises(BadResponse) as caught:
        backend.recommend(REQUEST)
    assert isinstance(caught.value.__cause__, KeyError)


def test_a_codec_that_answers_for_the_wrong_number_of_users_is_a_bad_response():
    backend = ScriptedBackend(EndpointResponse(body=ANSWER), codec=ShortCodec())
    with pytest.raises(BadResponse, match="0 predictions for 1 requests"):
        backend.recommend(REQUEST)


# --- choosing a backend ---------------------------------------------------------------------


def test_get_backend_is_cached_and_rebuilt_when_settings_change():
    with override_settings(RECOMMENDATIONS={"BACKEND": "sagemaker", "CODEC": "json"}):
        first = get_backend()
        assert get_backend() is first
        assert isinstance(first, SageMakerBackend)
        assert isinstance(first.codec, JSONCodec)
    with override_settings(RECOMMENDATIONS={"BACKEND": "http", "CODEC": "sagemaker_json"}):
        second = get_backend()
        assert isinstance(second, HTTPBackend)
        assert isinstance(second.codec, SageMakerJSONCodec)


def test_a_dotted_path_backend_is_loaded():
    with override_settings(
        RECOMMENDATIONS={"BACKEND": "tests.app.test_backend_base.ScriptedBackend"}
    ):
        assert isinstance(get_backend(), ScriptedBackend)


@pytest.mark.parametrize("path", ["nowhere.Backend", "tests.app.test_backend_base.REQUEST"])
def test_an_unusable_backend_setting_is_a_configuration_error(path):
    with override_settings(RECOMMENDATIONS={"BACKEND": path}), pytest.raises(EndpointMisconfigured):
        get_backend()


def test_reset_clients_forgets_backends():
    with override_settings(RECOMMENDATIONS={"BACKEND": "sagemaker"}):
        first = get_backend()
        reset_clients()
        assert get_backend() is not first


def test_an_unknown_target_variant_is_not_found_not_a_bad_request(scripted_endpoint):
    # SageMaker (and model/serve.py) answer a TargetVariant the endpoint lacks with this
    # ValidationError; every call to that variant fails until it is deployed, so it must count
    # for the variant's breaker rather than pass as one request's bad input.
    from recommendations.exceptions import EndpointNotFound
    from tests.support.scripted_endpoint import app_pointed_at, aws_error

    scripted_endpoint.script(
        aws_error(400, "ValidationError", "Invalid target variant B for endpoint x.")
    )
    with (
        app_pointed_at(scripted_endpoint, ENDPOINT_NAME="x", BUDGET_MS=1000),
        pytest.raises(EndpointNotFound) as caught,
    ):
        get_backend().recommend(REQUEST, target_variant="B")
    assert caught.value.trips_breaker
    assert not caught.value.caused_by_request
