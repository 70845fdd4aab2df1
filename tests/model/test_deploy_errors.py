"""The deploy command's requests and error messages, where moto cannot answer.

botocore's Stubber stands for SageMaker here: it checks each request against the real API shape
(and the exact parameters expected) and each canned answer against the real response shape.
moto 5.2 has no UpdateEndpoint, never leaves an endpoint `Failed`, never hits a resource limit
and never keeps an endpoint `Creating`; these tests cover what the code does then.
"""

import io

import boto3
import pytest
from botocore.stub import Stubber

from model.aws.deploy.errors import CommandError, EndpointFailed, WaitTimedOut, explain
from model.aws.deploy.plan import Runner
from model.aws.deploy.resources import create_endpoint
from model.aws.deploy.spec import DeploySpec, TrafficShift, resource_name
from model.aws.deploy.traffic import update_endpoint
from model.aws.deploy.waiting import wait_for_endpoint
from tests.support.sagemaker_on_moto import StubbedClients, runner_for

pytestmark = pytest.mark.cloud

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/shop"


@pytest.fixture
def sagemaker(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.session.Session(region_name="eu-west-1").client("sagemaker")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_update_endpoint_sends_blue_green_canary_with_auto_rollback(sagemaker):
    client, stubber = sagemaker
    spec = DeploySpec(
        endpoint_name="shop",
        mode="replace",
        model_version="v2",
        traffic=TrafficShift("canary", percent=5, wait_seconds=600, maximum_seconds=3600),
    )
    expected = {
        "EndpointName": "shop",
        "EndpointConfigName": "shop-v2",
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "WaitIntervalInSeconds": 600,
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 5},
                },
                "TerminationWaitInSeconds": 300,
                "MaximumExecutionTimeoutInSeconds": 3600,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [{"AlarmName": "shop-invocation-5xx"}, {"AlarmName": "shop-p99"}]
            },
        },
    }
    stubber.add_response("update_endpoint", {"EndpointArn": ARN}, expected)
    answer = runner_for(client).call(
        update_endpoint(spec, ["shop-invocation-5xx", "shop-p99"], why="test")
    )
    assert answer == {"EndpointArn": ARN}


def test_linear_and_all_at_once_shifts_are_valid_requests(sagemaker):
    client, stubber = sagemaker
    linear = DeploySpec(
        "shop", mode="replace", model_version="v3", traffic=TrafficShift("linear", 20, 120)
    )
    once = DeploySpec("shop", mode="replace", model_version="v4", traffic=TrafficShift())
    for spec in (linear, once):
        stubber.add_response("update_endpoint", {"EndpointArn": ARN})
        runner_for(client).call(update_endpoint(spec, []))
    routing = update_endpoint(linear, [])
    config = routing.params["DeploymentConfig"]
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["LinearStepSize"] == {
        "Type": "CAPACITY_PERCENT",
        "Value": 20,
    }
    assert "AutoRollbackConfiguration" not in config


def test_failed_endpoint_prints_sagemakers_failure_reason(sagemaker):
    client, stubber = sagemaker
    for status in ("Creating", "Failed"):
        answer = {
            "EndpointName": "shop",
            "EndpointArn": ARN,
            "EndpointConfigName": "shop-v1",
            "EndpointStatus": status,
            "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z",
        }
        if status == "Failed":
            answer["FailureReason"] = (
                "The primary container for production variant primary did not pass the ping health check."
            )
        stubber.add_response("describe_endpoint", answer, {"EndpointName": "shop"})
    with pytest.raises(EndpointFailed) as failed:
        wait_for_endpoint(runner_for(client), "shop", timeout_seconds=60, poll_seconds=0)
    assert str(failed.value) == (
        "endpoint shop is Failed: The primary container for production variant primary did "
        "not pass the ping health check."
    )


def test_a_wait_past_its_timeout_says_how_to_resume(sagemaker):
    client, stubber = sagemaker
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": "shop",
            "EndpointArn": ARN,
            "EndpointConfigName": "shop-v1",
            "EndpointStatus": "Creating",
            "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z",
        },
    )
    with pytest.raises(WaitTimedOut, match="re-run the same command to keep waiting"):
        wait_for_endpoint(runner_for(client), "shop", timeout_seconds=0, poll_seconds=0)


def test_resource_limit_exceeded_is_one_line_with_what_to_do(sagemaker):
    client, stubber = sagemaker
    stubber.add_client_error(
        "create_endpoint",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level service limit 'ml.p3.2xlarge for endpoint usage' is 0 Instances",
        http_status_code=400,
    )
    spec = DeploySpec("shop", model_version="v1")
    with pytest.raises(CommandError) as error:
        runner_for(client).call(create_endpoint(spec))
    message = str(error.value)
    assert message.startswith("sagemaker:CreateEndpoint: resource limit exceeded")
    assert "Service Quotas" in message and "\n" not in message


def test_access_denied_names_the_missing_permission(sagemaker):
    client, stubber = sagemaker
    stubber.add_client_error(
        "create_endpoint", service_error_code="AccessDeniedException", service_message="denied"
    )
    with pytest.raises(CommandError, match=r"needs sagemaker:CreateEndpoint \(see model/iam"):
        runner_for(client).call(create_endpoint(DeploySpec("shop", model_version="v1")))


def test_a_dry_run_makes_no_write(sagemaker):
    client, _ = sagemaker  # no response queued: any request would fail the stubber
    out = io.StringIO()
    runner = Runner(StubbedClients(client), dry_run=True, out=out, progress=io.StringIO())
    assert runner.call(create_endpoint(DeploySpec("shop", model_version="v1"))) == {}
    assert out.getvalue().startswith("[dry-run] would call sagemaker:CreateEndpoint")


def test_no_credentials_is_one_line():
    from botocore.exceptions import NoCredentialsError

    assert "no AWS credentials" in str(explain(NoCredentialsError(), "sagemaker:CreateModel"))


def test_long_names_stay_within_sagemakers_limit_and_unique():
    first = resource_name("a" * 60, "version-one")
    second = resource_name("a" * 60, "version-two")
    assert len(first) <= 63 and len(second) <= 63 and first != second
    assert resource_name("shop", "2026.01.02_x") == "shop-2026-01-02-x"


def test_no_region_names_the_variable_boto3_reads(monkeypatch):
    from botocore.exceptions import NoRegionError

    assert "AWS_DEFAULT_REGION" in str(explain(NoRegionError(), "sagemaker:CreateModel"))
