"""recommendations.contrib.health_check in django-health-check's own view, against the real model
endpoint (`python -m model.serve`): 200 with the endpoint answering, 500 with the probe's
plain-words finding when it does not."""

import pytest
from django.test import override_settings
from django.urls import path
from health_check.views import HealthCheckView

from recommendations.backends import reset_clients
from tests.support.model_server import free_port

pytestmark = pytest.mark.integration

CHECK = "recommendations.contrib.health_check.RecommendationsEndpoint"

# This module is the URLconf of its tests: the view as a shop would mount it.
urlpatterns = [
    path("health/", HealthCheckView.as_view(checks=["health_check.checks.Cache", CHECK])),
    path("health/few/", HealthCheckView.as_view(checks=[(CHECK, {"requests": 2})])),
]


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_clients()
    with override_settings(ROOT_URLCONF=__name__):
        yield
    reset_clients()


def health(client, url: str = "/health/") -> tuple[int, dict]:
    response = client.get(url, HTTP_ACCEPT="application/json")
    return response.status_code, response.json()


def test_an_answering_endpoint_is_healthy(client, model_server):
    with override_settings(RECOMMENDATIONS=model_server.recommendations_settings()):
        status, report = health(client)
    assert status == 200, report
    assert report == {"Cache(alias='default')": "OK", "RecommendationsEndpoint(requests=3)": "OK"}
    assert model_server.invocations() == 3


def test_the_number_of_calls_is_the_checks_argument(client, model_server):
    with override_settings(RECOMMENDATIONS=model_server.recommendations_settings()):
        status, report = health(client, "/health/few/")
    assert status == 200, report
    assert model_server.invocations() == 2


def test_an_unknown_endpoint_is_unavailable_with_the_probes_diagnosis(client, model_server):
    settings = {**model_server.recommendations_settings(), "ENDPOINT_NAME": "nope"}
    with override_settings(RECOMMENDATIONS=settings):
        status, report = health(client)
    assert status == 500
    assert report["Cache(alias='default')"] == "OK"
    message = report["RecommendationsEndpoint(requests=3)"]
    assert message.startswith("Unavailable: variant default: 0/1 calls succeeded.")
    assert "No endpoint named 'nope'" in message


def test_an_endpoint_that_cannot_be_reached_is_unavailable(client, model_server):
    settings = {
        **model_server.recommendations_settings(),
        "ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    }
    with override_settings(RECOMMENDATIONS=settings):
        status, report = health(client)
    assert status == 500
    assert "Could not connect" in report["RecommendationsEndpoint(requests=3)"]


def test_server_errors_are_reported(client, model_server):
    model_server.set_fault("http500")
    with override_settings(RECOMMENDATIONS=model_server.recommendations_settings()):
        status, report = health(client)
    assert status == 500
    assert "server error" in report["RecommendationsEndpoint(requests=3)"]
