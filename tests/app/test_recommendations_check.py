"""manage.py recommendations_probe against the real model endpoint (`python -m model.serve`):
status, latency and model version when healthy; a plain-words diagnosis and a non-zero exit for
each usual mistake; never a credential in its output or logs."""

import logging
import os
import re
from contextlib import nullcontext
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from recommendations.exceptions import (
    BadResponse,
    EndpointModelError,
    EndpointRejected,
    EndpointThrottled,
    EndpointUnavailable,
)
from recommendations.ops.probe import explain
from tests.support.model_server import free_port, running_model_server
from tests.support.scripted_endpoint import (  # noqa: F401 (fixture "scripted_endpoint")
    aws_error,
    scripted_endpoint_fixture,
)

pytestmark = [pytest.mark.usefixtures("fresh_clients"), pytest.mark.integration]

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
TEST_SECRET = os.environ["AWS_SECRET_ACCESS_KEY"]
WRONG_SECRET = "a-wrong-secret-that-must-not-show-0000"


@pytest.fixture
def endpoint(model_server):
    with override_settings(RECOMMENDATIONS=model_server.recommendations_settings()):
        yield model_server


def check(*args: str, recommendations: dict | None = None) -> tuple[int, str]:
    """Run the command (with these RECOMMENDATIONS if given); (exit code, all it printed)."""
    out, err = StringIO(), StringIO()
    settings = (
        override_settings(RECOMMENDATIONS=recommendations) if recommendations else nullcontext()
    )
    with settings:
        try:
            call_command("recommendations_probe", *args, stdout=out, stderr=err)
        except CommandError as error:
            return 1, out.getvalue() + err.getvalue() + str(error)
    return 0, out.getvalue() + err.getvalue()


def assert_no_secret(text: str, caplog, *secrets: str) -> None:
    for secret in (TEST_SECRET, *secrets):
        assert secret not in text
        assert secret not in caplog.text
        assert all(secret not in record.getMessage() for record in caplog.records)


def test_healthy_endpoint_exits_zero_with_latency_and_model_version(endpoint, caplog):
    with caplog.at_level(logging.DEBUG):
        code, output = check("--requests", "5")
    assert code == 0
    assert "Variant default: OK  5/5 calls succeeded" in output
    assert re.search(r"latency p50 [\d.]+ ms, p99 [\d.]+ ms", output)
    assert f"model version {endpoint.model_version}" in output
    assert "usable by page views" in output
    assert endpoint.invocations() == 5
    assert_no_secret(output, caplog)


def test_a_known_user_is_asked_by_pseudonym(endpoint):
    code, output = check("--requests", "1", "--user-id", "42")
    assert code == 0
    assert "asking for user 42" in output
    assert endpoint.invocations() == 1


def test_unknown_endpoint_name_is_diagnosed_in_plain_words(endpoint, caplog):
    with caplog.at_level(logging.DEBUG):
        code, output = check(
            "--requests",
            "3",
            recommendations={**endpoint.recommendations_settings(), "ENDPOINT_NAME": "nope"},
        )
    assert code == 1
    assert "No endpoint named 'nope'" in output
    assert "region" in output
    assert "not usable" in output
    # One call tells it all: the probe does not repeat a call that cannot succeed.
    assert "0/1 calls succeeded" in output
    assert_no_secret(output, caplog)


def test_wrong_credentials_are_diagnosed_and_never_printed(endpoint, caplog, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
    with caplog.at_level(logging.DEBUG):
        code, output = check("--requests", "3")
    assert code == 1
    assert "AWS refused the credentials" in output
    assert "InvalidSignatureException" in output
    assert_no_secret(output, caplog, WRONG_SECRET)


def test_no_credentials_at_all_are_diagnosed(endpoint, caplog, monkeypatch):
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.DEBUG):
        code, output = check("--requests", "3")
    assert code == 1
    assert "No AWS credentials found" in output
    assert "AWS_ACCESS_KEY_ID" in output  # says where boto3 looks
    assert endpoint.invocations() == 0
    assert_no_secret(output, caplog)


def test_endpoint_slower_than_the_budget_shows_latency_against_the_budget(endpoint, caplog):
    endpoint.set_fault("none", latency_ms=400)
    with caplog.at_level(logging.DEBUG):
        code, output = check(
            "--requests",
            "3",
            recommendations={**endpoint.recommendations_settings(), "BUDGET_MS": 100},
        )
    assert code == 1
    assert "time out with the page's timeouts" in output
    assert "BUDGET_MS 100 ms" in output
    measured = re.search(r"answers with a longer timeout in (\d+) ms", output)
    assert measured, output
    assert int(measured.group(1)) >= 400
    assert "slower than the budget of 100 ms" in output
    assert_no_secret(output, caplog)


def test_connection_refused_is_diagnosed(endpoint):
    code, output = check(
        "--requests",
        "2",
        recommendations={
            **endpoint.recommendations_settings(),
            "ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        },
    )
    assert code == 1
    assert "Could not connect" in output


@pytest.mark.django_db
def test_server_errors_are_diagnosed_and_alert_logs_an_error(endpoint, caplog):
    endpoint.set_fault("http500")
    with caplog.at_level(logging.INFO, logger="recommendations"):
        code, output = check("--requests", "3", "--alert")
    assert code == 1
    assert "server error" in output
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "not usable" in errors[0].getMessage()
    assert errors[0].unusable == ["default"]


@pytest.mark.django_db
def test_alert_logs_info_when_healthy(endpoint, caplog):
    with caplog.at_level(logging.INFO, logger="recommendations"):
        code, _ = check("--requests", "2", "--alert")
    assert code == 0
    (record,) = [
        r for r in caplog.records if r.name.endswith("recommendations_probe") and r.levelno >= 20
    ]
    assert record.levelno == logging.INFO
    assert "healthy" in record.getMessage()


def recent_impressions(model: int, fallback: int, reason: str = "timeout") -> None:
    import uuid

    from django.utils import timezone

    from recommendations.models import Impression

    Impression.objects.bulk_create(
        Impression(
            request_id=uuid.uuid4().hex,
            arm="model",
            source="model" if index < model else "fallback",
            fallback_reason="" if index < model else reason,
            created_at=timezone.now(),
        )
        for index in range(model + fallback)
    )


@pytest.mark.django_db
def test_alert_fails_when_the_last_hours_fallback_rate_passes_the_threshold(endpoint, caplog):
    recent_impressions(model=4, fallback=6, reason="throttled")
    settings = {**endpoint.recommendations_settings(), "ALERT_FALLBACK_RATE": 0.5}
    with caplog.at_level(logging.INFO, logger="recommendations"):
        code, output = check("--requests", "2", "--alert", recommendations=settings)
    assert code == 1
    assert "fallback rate 60.0%" in output
    assert "throttled 6" in output
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "fallback rate" in error.getMessage()


@pytest.mark.django_db
def test_alert_fails_when_the_last_hours_endpoint_p99_passes_the_threshold(endpoint):
    from recommendations.ops import latency_window

    recent_impressions(model=10, fallback=0)
    for _ in range(20):
        latency_window.record(30)
    latency_window.record(2000)
    settings = {**endpoint.recommendations_settings(), "ALERT_P99_MS": 1000}
    code, output = check("--requests", "2", "--alert", recommendations=settings)
    assert code == 1
    assert "endpoint p99 over the last hour is above 1000 ms" in output
    code, output = check(
        "--requests", "2", "--alert", recommendations={**settings, "ALERT_P99_MS": 5000}
    )
    assert code == 0, output


@pytest.mark.django_db
def test_alert_without_impressions_says_the_rate_is_unknown_and_passes(endpoint):
    code, output = check("--requests", "2", "--alert")
    assert code == 0
    assert "is TRACKING on?" in output


def test_requests_must_be_positive(endpoint):
    code, output = check("--requests", "0")
    assert code == 1
    assert "--requests" in output


def test_http_backend_with_a_refused_api_key_is_diagnosed(scripted_endpoint, caplog):
    api_key = "an-api-key-that-must-not-show-0000"
    scripted_endpoint.script(aws_error(403, "ForbiddenException", "Forbidden"))
    with caplog.at_level(logging.DEBUG):
        code, output = check(
            "--requests",
            "2",
            recommendations={
                "BACKEND": "http",
                "HTTP_URL": scripted_endpoint.url + "/recommend",
                "HTTP_API_KEY": api_key,
            },
        )
    assert code == 1
    assert "refused the API key" in output
    assert scripted_endpoint.received[0].headers["x-api-key"] == api_key
    assert_no_secret(output, caplog, api_key)


@pytest.fixture(scope="module")
def two_variant_endpoint(tmp_path_factory):
    """An endpoint with production variants "blue" and "green" (any other is a ValidationError)."""
    with running_model_server(
        tmp_path_factory.mktemp("variants"), extra_args=("--variant", "blue", "--variant", "green")
    ) as server:
        yield server


def test_each_configured_variant_is_called(two_variant_endpoint):
    server = two_variant_endpoint
    server.reset_stats()
    code, output = check(
        "--requests",
        "2",
        recommendations={
            **server.recommendations_settings(),
            "TARGET_VARIANT": "blue",
            "SECOND_VARIANT": "green",
        },
    )
    assert code == 0
    assert "Variant blue: OK" in output
    assert "Variant green: OK" in output
    assert "answered by green" in output
    assert server.stats()["by_variant"] == {"blue": 2, "green": 2}


def test_a_variant_the_endpoint_lacks_fails_the_check(two_variant_endpoint):
    code, output = check(
        "--requests",
        "2",
        recommendations={
            **two_variant_endpoint.recommendations_settings(),
            "TARGET_VARIANT": "blue",
            "SECOND_VARIANT": "red",
        },
    )
    assert code == 1
    assert "Variant blue: OK" in output
    assert "Variant red: " in output
    assert "does not have the production variant" in output
    assert "(variant: red)" in output


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (EndpointThrottled(error_code="ThrottlingException"), "throttling"),
        (EndpointModelError(error_code="ModelError"), "model container failed"),
        (BadResponse(detail="no recommendations"), "not in the format CODEC"),
        (EndpointRejected(error_code="ValidationError", detail="bad body"), "rejected"),
        (EndpointUnavailable(error_code="ServiceUnavailable"), "server error"),
    ],
)
def test_every_error_type_gets_its_own_explanation(error, words):
    assert words in explain(error)


@pytest.mark.parametrize(("p99_ms", "warned"), [(80.0, False), (90.0, True)])
def test_a_p99_close_to_the_pages_wait_is_a_finding(p99_ms, warned):
    # The page waits TIMEOUT_SHARE (70%) of the 150 ms budget, 105 ms; the finding comes past 80% of it.
    from recommendations.ops import probe

    variant = probe.VariantHealth(None, [probe.CallOutcome(latency_ms=p99_ms)])
    with override_settings(RECOMMENDATIONS={"BUDGET_MS": 150}):
        findings = probe._findings_of_a_working_endpoint(variant)
    assert any("close to the budget" in finding for finding in findings) is warned
