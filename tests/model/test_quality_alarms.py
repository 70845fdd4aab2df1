"""`model.deploy --create-alarms --metrics-namespace`: the shop's quality alarms, on moto over HTTP.

CloudWatch, SNS and the Model Registry calls are moto's own. SageMaker's UpdateEndpoint, which
moto 5.2 lacks, is answered by botocore's Stubber (tests/support/sagemaker_on_moto.py) in the
replace test, which checks that quality alarms never become rollback alarms.
"""

import io
import json
import tarfile
import uuid

import pytest

from model.aws.deploy.cli import main as deploy
from model.aws.deploy.quality_alarms import (
    DRIFT_SCORE,
    LIFT_VS_HOLDOUT,
    MODEL_AGE_DAYS,
    quality_alarm_names,
)
from model.aws.register import main as register
from tests.support.sagemaker_on_moto import stand_in_for_update_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.cloud]

NAMESPACE = "Shop/Recommendations"


@pytest.fixture
def endpoint_name() -> str:
    return f"shop-recommender-{uuid.uuid4().hex[:6]}"


def approved_package(aws, endpoint_name: str, job: str, version: str) -> str:
    """A registered package whose artefact's metrics.json names `version`, then approved."""
    metrics = json.dumps({"model_version": version, "model": "als", "evaluation": {}}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("metrics.json")
        info.size = len(metrics)
        archive.addfile(info, io.BytesIO(metrics))
    data = aws.put_model_data(f"models/{job}/output/model.tar.gz", buffer.getvalue())
    out = io.StringIO()
    argv = ["--endpoint-name", endpoint_name, "--image", aws.image, "--model-data", data]
    assert register(argv, aws.session(), out) == 0
    arn = out.getvalue().strip()
    sagemaker = aws.client("sagemaker")
    properties = sagemaker.describe_model_package(ModelPackageName=arn)[
        "CustomerMetadataProperties"
    ]
    # moto 5.2's UpdateModelPackage drops the properties it is not given; SageMaker keeps them
    # (it removes only CustomerMetadataPropertiesToRemove), so the test gives them back.
    sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", CustomerMetadataProperties=properties
    )
    return arn


def alarms_of(aws, endpoint_name: str) -> dict[str, dict]:
    answer = aws.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{endpoint_name}/")
    return {a["AlarmName"]: a for a in answer["MetricAlarms"]}


def test_create_alarms_makes_quality_alarms_that_notify_the_topic(aws, endpoint_name, capsys):
    topic = aws.client("sns").create_topic(Name=f"ml-oncall-{uuid.uuid4().hex[:6]}")["TopicArn"]
    package = approved_package(aws, endpoint_name, "job-1", "als-0123abcd")
    argv = [
        "--endpoint-name", endpoint_name, "--role", aws.role_arn, "--model-package", package,
        "--create-alarms", "--metrics-namespace", NAMESPACE, "--alarm-topic-arn", topic,
        "--alarm-lift-days", "4", "--alarm-max-drift", "0.25", "--poll-seconds", "0.01",
    ]  # fmt: skip
    assert deploy(argv, aws.session(), io.StringIO()) == 0, capsys.readouterr().err
    alarms = alarms_of(aws, endpoint_name)
    lift_name, drift_name, age_name = quality_alarm_names(endpoint_name, "primary")
    assert {lift_name, drift_name, age_name} < set(alarms)
    dimensions = [
        {"Name": "ModelVersion", "Value": "als-0123abcd"},
        {"Name": "Variant", "Value": "primary"},
    ]
    lift = alarms[lift_name]
    assert (lift["Namespace"], lift["MetricName"]) == (NAMESPACE, LIFT_VS_HOLDOUT)
    assert lift["Dimensions"] == dimensions
    assert lift["Period"] == 86400 and lift["EvaluationPeriods"] == 4
    assert lift["DatapointsToAlarm"] == 4
    assert lift["ComparisonOperator"] == "LessThanThreshold" and lift["Threshold"] == 0.0
    assert alarms[drift_name]["MetricName"] == DRIFT_SCORE
    assert alarms[drift_name]["Threshold"] == 0.25
    assert alarms[age_name]["MetricName"] == MODEL_AGE_DAYS
    # Every alarm this tool made, rollback ones too, notifies the topic.
    assert all(alarm["AlarmActions"] == [topic] for alarm in alarms.values())


def test_quality_alarms_are_not_rollback_alarms(aws, endpoint_name, capsys):
    first = approved_package(aws, endpoint_name, "job-a", "als-aaaa")
    second = approved_package(aws, endpoint_name, "job-b", "als-bbbb")
    common = ["--endpoint-name", endpoint_name, "--role", aws.role_arn, "--poll-seconds", "0.01"]
    assert deploy([*common, "--model-package", first], aws.session(), io.StringIO()) == 0
    session = aws.session()
    update = stand_in_for_update_endpoint(session)
    replace = [
        *common, "--mode", "replace", "--model-package", second, "--create-alarms",
        "--metrics-namespace", NAMESPACE, "--traffic-wait-seconds", "60",
    ]  # fmt: skip
    assert deploy(replace, session, io.StringIO()) == 0, capsys.readouterr().err
    rollback = update.requests[0]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    names = {alarm["AlarmName"] for alarm in rollback}
    assert names == {f"{endpoint_name}/invocation-5xx-rate", f"{endpoint_name}/model-latency-p99"}
    assert set(quality_alarm_names(endpoint_name, "primary")) <= set(alarms_of(aws, endpoint_name))
    lift = alarms_of(aws, endpoint_name)[quality_alarm_names(endpoint_name, "primary")[0]]
    assert {"Name": "ModelVersion", "Value": "als-bbbb"} in lift["Dimensions"]


def test_without_the_reported_version_no_quality_alarm_is_made_and_it_says_so(
    aws, endpoint_name, capsys
):
    data = aws.put_model_data("models/job-y/output/model.tar.gz")
    argv = [
        "--endpoint-name", endpoint_name, "--role", aws.role_arn, "--image", aws.image,
        "--model-data", data, "--create-alarms", "--metrics-namespace", NAMESPACE,
        "--poll-seconds", "0.01",
    ]  # fmt: skip
    assert deploy(argv, aws.session(), io.StringIO()) == 0
    assert "no quality alarms: the model version the app reports is unknown" in (
        capsys.readouterr().err
    )
    assert not set(quality_alarm_names(endpoint_name, "primary")) & set(
        alarms_of(aws, endpoint_name)
    )


def test_delete_removes_every_variants_quality_alarms(aws, endpoint_name, capsys):
    package = approved_package(aws, endpoint_name, "job-d", "als-dddd")
    common = ["--endpoint-name", endpoint_name, "--poll-seconds", "0.01"]
    create = [*common, "--role", aws.role_arn, "--model-package", package, "--create-alarms"]
    assert deploy([*create, "--metrics-namespace", NAMESPACE], aws.session(), io.StringIO()) == 0
    assert set(quality_alarm_names(endpoint_name, "primary")) <= set(alarms_of(aws, endpoint_name))
    assert deploy([*common, "--mode", "delete", "--yes"], aws.session(), io.StringIO()) == 0, (
        capsys.readouterr().err
    )
    assert alarms_of(aws, endpoint_name) == {}
