"""SageMaker's documented rules, refused in one line before anything is created.

moto and botocore's Stubber accept every request below; SageMaker refuses each one, for a reason
its documentation gives (model/aws/deploy/rules.py cites the page of each rule). The command must
say so before its first write, so that nothing is left half made.
"""

import io
import uuid

import pytest

from model.aws.deploy.cli import main
from model.aws.deploy.monitoring import alarm_calls, statistic_problem
from model.aws.deploy.rules import RULES
from model.aws.deploy.spec import Alarms
from tests.support.sagemaker_on_moto import stand_in_for_update_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.cloud]

KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def endpoint_name() -> str:
    return f"shop-rules-{uuid.uuid4().hex[:6]}"


def run(aws, *argv: str, session=None) -> int:
    try:
        return main(list(argv), session=session or aws.session(), out=io.StringIO())
    except SystemExit as exit_:
        return int(exit_.code)


def args(aws, endpoint_name: str, *extra: str) -> list[str]:
    data = aws.put_model_data(f"rules/{uuid.uuid4().hex[:6]}/model.tar.gz")
    return [
        "--endpoint-name", endpoint_name, "--image", aws.image, "--role", aws.role_arn,
        "--model-data", data, "--poll-seconds", "0.01", *extra,
    ]  # fmt: skip


def writes(calls: list[str]) -> list[str]:
    reads = ("Describe", "Get", "Head", "List")
    return [c for c in calls if not c.split(":")[1].startswith(reads)]


# (the rule the request breaks, its options, and the first endpoint's options when it replaces)
ONE, FOUR = ["--instance-count", "1"], ["--instance-count", "4"]
REFUSED = [
    ("canary-size", ["--traffic", "canary", "--traffic-percent", "10"], ONE),
    ("canary-size", ["--traffic", "canary", "--traffic-percent", "60"], FOUR),
    ("linear-step", ["--traffic", "linear", "--traffic-percent", "5"], FOUR),
    ("linear-step", ["--traffic", "linear", "--traffic-percent", "60"], FOUR),
    ("linear-step", ["--traffic", "linear", "--traffic-percent", "20"], ONE),
    ("serverless-traffic-shifting", ["--serverless-memory", "2048", "--traffic", "canary"],
     ["--serverless-memory", "2048"]),
    ("serverless-memory", ["--serverless-memory", "1500"], None),
    ("serverless-memory", ["--serverless-memory", "8192"], None),
    ("serverless-concurrency", ["--serverless-memory", "2048",
                                "--serverless-max-concurrency", "500"], None),
    ("serverless-features", ["--serverless-memory", "2048", "--data-capture-percent", "5",
                             "--data-capture-s3", "s3://b/capture"], None),
    ("serverless-features", ["--serverless-memory", "2048", "--kms-key-id", KEY], None),
    ("serverless-features", ["--serverless-memory", "2048", "--subnet", "subnet-1",
                             "--security-group", "sg-1"], None),
    ("volume-key-local-storage", ["--instance-type", "ml.m5d.large", "--kms-key-id", KEY], None),
    ("volume-key-local-storage", ["--instance-type", "ml.g4dn.xlarge", "--kms-key-id", KEY], None),
    ("names", ["--model-version", "v1.2"], None),
    ("names", ["--variant-name", "a_b"], None),
    ("deployment-timeout", ["--termination-wait-seconds", "600",
                            "--max-deployment-seconds", "600"], ONE),
    ("variant-timeouts", ["--model-data-download-timeout", "30"], None),
    ("variant-timeouts", ["--container-startup-timeout", "7200"], None),
    # Maximums and patterns in botocore's model, which botocore leaves to the service.
    ("model", ["--data-capture-percent", "150", "--data-capture-s3", "s3://b/capture"], None),
    ("model", ["--tag", "team=" + "x" * 300], None),
    ("alarm-evaluation-range", ["--create-alarms", "--metrics-namespace", "Shop/Recs",
                                "--app-model-version", "als-1", "--alarm-lift-days", "8"], None),
    ("alarm-action", ["--create-alarms", "--alarm-topic-arn",
                      "arn:aws:sqs:eu-west-1:123456789012:alarms"], None),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "options", "first"), REFUSED)
def test_a_request_sagemaker_refuses_is_one_line_and_nothing_is_made(
    aws, endpoint_name, capsys, rule, options, first
):
    if first is not None:
        assert run(aws, *args(aws, endpoint_name, *first)) == 0, capsys.readouterr().err
        options = ["--mode", "replace", "--model-version", "next", *options]
    capsys.readouterr()
    aws.calls.clear()
    status = run(aws, *args(aws, endpoint_name, *options))
    err = capsys.readouterr().err.strip()
    assert status == 1, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    if rule == "model":
        assert "the API's own model" in err
    else:
        assert f"[SageMaker rule {rule}: https://docs.aws.amazon.com/" in err
    assert writes(aws.calls) == []


def test_each_rule_is_tested_and_cites_an_aws_page():
    tested = {rule for rule, _, _ in REFUSED}
    for rule in RULES:
        assert rule.name in tested, rule.name
        assert rule.page.startswith(
            (
                "https://docs.aws.amazon.com/sagemaker/",
                "https://docs.aws.amazon.com/AmazonCloudWatch/",
            )
        ), rule.name


def test_the_endpoint_name_is_held_to_sagemakers_limit(aws, capsys):
    status = run(aws, *args(aws, "shop-" + "x" * 60))
    err = capsys.readouterr().err
    assert status == 1
    assert "--endpoint-name" in err and "[SageMaker rule names:" in err


def test_a_small_fleet_shifts_all_at_once_with_a_message_when_asked(aws, endpoint_name, capsys):
    assert run(aws, *args(aws, endpoint_name, "--model-version", "v1")) == 0
    session = aws.session()
    update = stand_in_for_update_endpoint(session)
    replace = args(aws, endpoint_name, "--mode", "replace", "--model-version", "v2")
    replace += ["--traffic", "canary", "--small-fleet", "all-at-once"]
    assert run(aws, *replace, session=session) == 0
    assert "shifting all at once instead: a 10% canary of 1 instance(s)" in capsys.readouterr().err
    (request,) = update.requests
    routing = request["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "ALL_AT_ONCE"


def test_a_canary_on_two_instances_is_accepted(aws, endpoint_name):
    assert run(aws, *args(aws, endpoint_name, "--instance-count", "2")) == 0
    session = aws.session()
    update = stand_in_for_update_endpoint(session)
    replace = args(aws, endpoint_name, "--mode", "replace", "--model-version", "v2")
    assert run(aws, *replace, "--traffic", "canary", session=session) == 0
    (request,) = update.requests
    routing = request["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}


def test_rollback_alarms_are_a_5xx_rate_and_a_published_latency_percentile():
    errors, latency = (call.params for call in alarm_calls("shop", "primary", Alarms()))
    # SageMaker publishes ModelLatency with percentiles: a percentile is an ExtendedStatistic.
    assert latency["ExtendedStatistic"] == "p99" and "Statistic" not in latency
    assert statistic_problem(latency) is None
    assert statistic_problem({**latency, "Statistic": "p99", "ExtendedStatistic": None}) == (
        "Statistic 'p99' is not one of SampleCount, Average, Sum, Minimum, Maximum"
    )
    # The 5xx alarm is a rate of invocations, over two minutes, not one error a minute.
    assert statistic_problem(errors) is None
    returned = [m for m in errors["Metrics"] if m["ReturnData"]]
    assert [m["Id"] for m in returned] == ["error_rate"]
    assert "100 * errors / invocations" in returned[0]["Expression"]
    stats = {
        m["Id"]: (m["MetricStat"]["Metric"]["MetricName"], m["MetricStat"]["Stat"])
        for m in errors["Metrics"]
        if "MetricStat" in m
    }
    assert stats == {
        "errors": ("Invocation5XXErrors", "Sum"),
        "invocations": ("Invocations", "Sum"),
    }
    assert errors["EvaluationPeriods"] == errors["DatapointsToAlarm"] == 2
