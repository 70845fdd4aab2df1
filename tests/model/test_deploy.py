"""`python -m model.deploy` against moto's server over HTTP (boto3 configured by AWS_ENDPOINT_URL).

Everything here is real HTTP to moto except SageMaker's UpdateEndpoint, which moto 5.2 does not
implement: tests/sagemaker_on_moto.py answers that one call with botocore's Stubber.
"""

import io
import re
import uuid

import pytest

from model.aws.deploy.cli import main
from tests.support.sagemaker_on_moto import stand_in_for_update_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.cloud]


@pytest.fixture
def endpoint_name() -> str:
    return f"shop-recommender-{uuid.uuid4().hex[:6]}"


def run(aws, *argv: str, session=None) -> tuple[int, str]:
    """Run the command in-process; its exit status and what it printed on stdout."""
    out = io.StringIO()
    try:
        status = main(list(argv), session=session or aws.session(), out=out)
    except SystemExit as exit_:
        status = exit_.code
    return status, out.getvalue()


def base_args(aws, endpoint_name: str, model_data: str, *extra: str) -> list[str]:
    return [
        "--endpoint-name", endpoint_name,
        "--image", aws.image,
        "--role", aws.role_arn,
        "--model-data", model_data,
        "--poll-seconds", "0.01",
        *extra,
    ]  # fmt: skip


def created(aws, endpoint_name: str):
    sagemaker = aws.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    return endpoint, config


def model_names(aws) -> set[str]:
    return {m["ModelName"] for m in aws.client("sagemaker").list_models()["Models"]}


def is_read(call: str) -> bool:
    """Whether a recorded call ("service:Operation") only reads."""
    return call.split(":")[1].startswith(("Describe", "Get", "Head", "List"))


def version_of(endpoint_name: str, name: str) -> str | None:
    """The model version in a resource name `<endpoint>-<version>-<8 hex of the content>`."""
    match = re.fullmatch(re.escape(endpoint_name) + r"-(.+)-[0-9a-f]{8}", name)
    return match.group(1) if match else None


def versions(endpoint_name: str, names) -> set[str]:
    """The model versions among resource names."""
    return {v for v in (version_of(endpoint_name, n) for n in names) if v}


def model_versions(aws, endpoint_name: str) -> set[str]:
    return versions(endpoint_name, model_names(aws))


def config_versions(aws, endpoint_name: str) -> list[str]:
    configs = aws.client("sagemaker").list_endpoint_configs(NameContains=endpoint_name)
    return sorted(
        versions(endpoint_name, [c["EndpointConfigName"] for c in configs["EndpointConfigs"]])
    )


def serving(aws, endpoint_name: str) -> str | None:
    """The version the endpoint's config carries."""
    endpoint, _ = created(aws, endpoint_name)
    return version_of(endpoint_name, endpoint["EndpointConfigName"])


def test_create_makes_an_in_service_endpoint_with_capture_and_autoscaling(
    aws, endpoint_name, capsys
):
    data = aws.put_model_data("jobs/train-v1/output/model.tar.gz")
    status, out = run(
        aws,
        *base_args(aws, endpoint_name, data),
        "--instance-type", "ml.c5.large", "--instance-count", "2",
        "--data-capture-percent", "25", "--data-capture-s3", f"s3://{aws.bucket}/capture",
        "--autoscale-min", "2", "--autoscale-max", "6", "--autoscale-target", "300",
        "--env", "LOG_LEVEL=info", "--tag", "team=shop",
        "--create-alarms", "--alarm-p99-ms", "250",
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    endpoint, config = created(aws, endpoint_name)
    assert endpoint["EndpointStatus"] == "InService"
    # The version comes from the training job's output path: names are deterministic.
    assert version_of(endpoint_name, endpoint["EndpointConfigName"]) == "train-v1"
    variant = config["ProductionVariants"][0]
    assert variant["VariantName"] == "primary"
    assert variant["InstanceType"] == "ml.c5.large" and variant["InitialInstanceCount"] == 2
    assert endpoint["DataCaptureConfig"]["EnableCapture"] is True
    assert endpoint["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{aws.bucket}/capture"
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 25
    model = aws.client("sagemaker").describe_model(ModelName=endpoint["EndpointConfigName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == data
    assert model["PrimaryContainer"]["Environment"] == {"LOG_LEVEL": "info"}
    assert model["ExecutionRoleArn"] == aws.role_arn
    scaling = aws.client("application-autoscaling")
    targets = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{endpoint_name}/variant/primary"]
    )["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(2, 6)]
    policies = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint_name}/variant/primary"
    )["ScalingPolicies"]
    tracking = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 300.0
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )
    alarms = {
        a["AlarmName"]: a
        for a in aws.client("cloudwatch").describe_alarms(AlarmNamePrefix=endpoint_name)[
            "MetricAlarms"
        ]
    }
    latency = alarms[f"{endpoint_name}/model-latency-p99"]
    assert latency["ExtendedStatistic"] == "p99" and latency["Threshold"] == 250_000.0
    rate = alarms[f"{endpoint_name}/invocation-5xx-rate"]
    assert {
        m["Id"]: m.get("MetricStat", {}).get("Metric", {}).get("MetricName")
        for m in rate["Metrics"]
    } == {
        "errors": "Invocation5XXErrors",
        "invocations": "Invocations",
        "error_rate": None,
    }
    assert f"endpoint {endpoint_name} is InService" in out


def test_serverless_variant_has_no_instances(aws, endpoint_name):
    data = aws.put_model_data("models/model.tar.gz")
    args = base_args(aws, endpoint_name, data, "--serverless-memory", "2048")
    status, _ = run(aws, *args, "--serverless-max-concurrency", "3", "--model-version", "v7")
    assert status == 0
    _, config = created(aws, endpoint_name)
    variant = config["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 3}
    assert "InstanceType" not in variant


def test_create_refuses_an_endpoint_that_serves_something_else(aws, endpoint_name, capsys):
    first = aws.put_model_data("a/model.tar.gz")
    assert run(aws, *base_args(aws, endpoint_name, first, "--model-version", "v1"))[0] == 0
    second = aws.put_model_data("b/model.tar.gz")
    status, _ = run(aws, *base_args(aws, endpoint_name, second, "--model-version", "v2"))
    err = capsys.readouterr().err
    assert status == 1
    assert f"endpoint {endpoint_name} already exists" in err and "--mode replace" in err
    assert "Traceback" not in err
    endpoint, _ = created(aws, endpoint_name)
    assert version_of(endpoint_name, endpoint["EndpointConfigName"]) == "v1"
    assert "v2" not in model_versions(aws, endpoint_name)


def test_ctrl_c_during_the_wait_then_a_rerun_finishes_without_making_anything_twice(
    aws, endpoint_name, capsys
):
    data = aws.put_model_data("c/model.tar.gz")
    args = base_args(aws, endpoint_name, data, "--model-version", "v1")
    args += ["--autoscale-min", "1", "--autoscale-max", "2"]
    session = aws.session()
    calls_before = len(aws.calls)

    def ctrl_c_in_the_wait(model, **_):
        # The first DescribeEndpoint after CreateEndpoint is the wait's: Ctrl-C lands there.
        if "sagemaker:CreateEndpoint" in aws.calls[calls_before:]:
            raise KeyboardInterrupt

    session.events.register("before-call.sagemaker.DescribeEndpoint", ctrl_c_in_the_wait)
    status, _ = run(aws, *args, session=session)
    assert status == 1
    assert "re-run the same command to resume" in capsys.readouterr().err
    assert "sagemaker:CreateEndpoint" in aws.calls[calls_before:]
    scaling = aws.client("application-autoscaling")
    resource = f"endpoint/{endpoint_name}/variant/primary"
    assert not scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )["ScalableTargets"]

    aws.calls.clear()
    status, _ = run(aws, *args)
    assert status == 0
    writes = [c for c in aws.calls if not is_read(c)]
    assert writes == [
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
    ]
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
        "ScalableTargets"
    ]


def test_missing_role_is_one_line_and_nothing_is_made(aws, endpoint_name, capsys):
    data = aws.put_model_data("d/model.tar.gz")
    args = base_args(aws, endpoint_name, data)
    args[args.index(aws.role_arn)] = "arn:aws:iam::123456789012:role/no-such-role"
    status, _ = run(aws, *args)
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert err.startswith("error: role arn:aws:iam::123456789012:role/no-such-role does not exist")
    assert len(err.splitlines()) == 1
    assert not any(name.startswith(endpoint_name) for name in model_names(aws))


def test_image_not_in_ecr_is_one_line_and_nothing_is_made(aws, endpoint_name, capsys):
    data = aws.put_model_data("e/model.tar.gz")
    args = base_args(aws, endpoint_name, data)
    args[args.index(aws.image)] = aws.image.replace(":1", ":not-pushed")
    status, _ = run(aws, *args)
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert "is not in ECR" in err and len(err.splitlines()) == 1
    assert not any(name.startswith(endpoint_name) for name in model_names(aws))


def test_missing_model_data_is_one_line(aws, endpoint_name, capsys):
    status, _ = run(aws, *base_args(aws, endpoint_name, f"s3://{aws.bucket}/none/model.tar.gz"))
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert (
        err
        == f"error: model data s3://{aws.bucket}/none/model.tar.gz does not exist: upload model.tar.gz first"
    )


def test_usage_errors_exit_2(aws, endpoint_name, capsys):
    status, _ = run(aws, "--endpoint-name", endpoint_name, "--image", aws.image)
    assert status == 2
    assert "needs --image and --role" in capsys.readouterr().err
    status, _ = run(aws, *base_args(aws, endpoint_name, "s3://b/k", "--env", "NOVALUE"))
    assert status == 2
    serverless = ["--serverless-memory", "2048", "--autoscale-min", "1", "--autoscale-max", "2"]
    status, _ = run(aws, *base_args(aws, endpoint_name, "s3://b/k", *serverless))
    assert status == 2
    assert "a serverless variant scales by itself" in capsys.readouterr().err


def test_replace_with_canary_moves_to_the_new_config_and_deletes_the_old(aws, endpoint_name):
    old = aws.put_model_data("v1/model.tar.gz")
    # Two instances: SageMaker refuses a canary or linear step above half the fleet.
    args = base_args(aws, endpoint_name, old, "--model-version", "v1", "--instance-count", "2")
    assert run(aws, *args)[0] == 0
    new = aws.put_model_data("v2/model.tar.gz")
    session = aws.session()
    update = stand_in_for_update_endpoint(session)
    args = base_args(aws, endpoint_name, new, "--model-version", "v2", "--mode", "replace")
    args += ["--traffic", "canary", "--traffic-percent", "10", "--create-alarms"]
    status, out = run(aws, *args, session=session)
    assert status == 0
    assert "calling sagemaker:UpdateEndpoint  # blue/green canary from" in out
    endpoint, _ = created(aws, endpoint_name)
    assert version_of(endpoint_name, endpoint["EndpointConfigName"]) == "v2"
    (request,) = update.requests
    policy = request["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert policy["TrafficRoutingConfiguration"]["CanarySize"] == {
        "Type": "CAPACITY_PERCENT",
        "Value": 10,
    }
    assert request["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] == [
        {"AlarmName": f"{endpoint_name}/invocation-5xx-rate"},
        {"AlarmName": f"{endpoint_name}/model-latency-p99"},
    ]
    # The alarms existed before the update that rolls back on them.
    assert aws.calls.index("cloudwatch:PutMetricAlarm") < aws.calls.index(
        "sagemaker:UpdateEndpoint"
    )
    assert model_versions(aws, endpoint_name) == {"v2"}
    assert config_versions(aws, endpoint_name) == ["v2"]


def test_replace_with_archive_keeps_the_old_config_and_model(aws, endpoint_name):
    old = aws.put_model_data("v1/model.tar.gz")
    assert run(aws, *base_args(aws, endpoint_name, old, "--model-version", "v1"))[0] == 0
    session = aws.session()
    stand_in_for_update_endpoint(session)
    new = aws.put_model_data("v2/model.tar.gz")
    args = base_args(aws, endpoint_name, new, "--model-version", "v2", "--mode", "replace")
    assert run(aws, *args, "--archive", session=session)[0] == 0
    assert {"v1", "v2"} <= model_versions(aws, endpoint_name)


def test_a_rollback_is_reported_in_one_line_and_the_old_model_stays(aws, endpoint_name, capsys):
    old = aws.put_model_data("v1/model.tar.gz")
    # Two instances: SageMaker refuses a canary or linear step above half the fleet.
    args = base_args(aws, endpoint_name, old, "--model-version", "v1", "--instance-count", "2")
    assert run(aws, *args)[0] == 0
    session = aws.session()
    stand_in_for_update_endpoint(session, completes=False)
    new = aws.put_model_data("v2/model.tar.gz")
    args = base_args(aws, endpoint_name, new, "--model-version", "v2", "--mode", "replace")
    status, _ = run(
        aws, *args, "--traffic", "linear", "--rollback-alarm", "shop-5xx", session=session
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert err[-1].startswith(
        f"error: SageMaker rolled back: endpoint {endpoint_name} still serves {endpoint_name}-v1"
    )
    assert "shop-5xx" in err[-1]
    endpoint, _ = created(aws, endpoint_name)
    assert version_of(endpoint_name, endpoint["EndpointConfigName"]) == "v1"
    assert "v1" in model_versions(aws, endpoint_name)  # not retired after a rollback


def test_replace_of_a_missing_endpoint_says_to_create_it(aws, endpoint_name, capsys):
    data = aws.put_model_data("x/model.tar.gz")
    status, _ = run(aws, *base_args(aws, endpoint_name, data, "--mode", "replace"))
    assert status == 1
    assert "does not exist: use --mode create (or --create-if-missing)" in capsys.readouterr().err
    session = aws.session()
    stand_in_for_update_endpoint(session)
    args = base_args(aws, endpoint_name, data, "--mode", "replace", "--create-if-missing")
    assert run(aws, *args, session=session)[0] == 0
    assert created(aws, endpoint_name)[0]["EndpointStatus"] == "InService"


def test_add_a_variant_then_move_traffic_to_it(aws, endpoint_name):
    old = aws.put_model_data("v1/model.tar.gz")
    capture = ["--data-capture-percent", "10", "--data-capture-s3", f"s3://{aws.bucket}/cap"]
    args = base_args(aws, endpoint_name, old, "--model-version", "v1", *capture)
    assert run(aws, *args)[0] == 0
    session = aws.session()
    stand_in_for_update_endpoint(session)
    new = aws.put_model_data("v2/model.tar.gz")
    args = base_args(aws, endpoint_name, new, "--model-version", "v2", "--mode", "add")
    args += ["--variant-name", "variant", "--initial-weight", "0.25"]
    assert run(aws, *args, session=session)[0] == 0
    endpoint, config = created(aws, endpoint_name)
    weights = {v["VariantName"]: v["CurrentWeight"] for v in endpoint["ProductionVariants"]}
    assert weights == {"primary": 1.0, "variant": 0.25}
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 10  # carried over
    # Both models serve: only the replaced config went.
    assert {"v1", "v2"} <= model_versions(aws, endpoint_name)

    status, out = run(
        aws, "--endpoint-name", endpoint_name, "--mode", "weights",
        "--weight", "primary=0.5", "--weight", "variant=0.5", "--poll-seconds", "0.01",
    )  # fmt: skip
    assert status == 0
    endpoint, _ = created(aws, endpoint_name)
    weights = {v["VariantName"]: v["CurrentWeight"] for v in endpoint["ProductionVariants"]}
    assert weights == {"primary": 0.5, "variant": 0.5}
    assert "primary=0.5, variant=0.5" in out


def test_weights_for_an_unknown_variant_is_one_line(aws, endpoint_name, capsys):
    data = aws.put_model_data("w/model.tar.gz")
    assert run(aws, *base_args(aws, endpoint_name, data))[0] == 0
    capsys.readouterr()
    status, _ = run(
        aws, "--endpoint-name", endpoint_name, "--mode", "weights", "--weight", "nope=1"
    )
    err = capsys.readouterr().err.strip()
    assert status == 1 and len(err.splitlines()) == 1
    assert err.startswith("error: sagemaker:UpdateEndpointWeightsAndCapacities failed")


def test_dry_run_of_replace_prints_every_call_and_makes_none(aws, endpoint_name):
    old = aws.put_model_data("v1/model.tar.gz")
    # Two instances: SageMaker refuses a canary or linear step above half the fleet.
    args = base_args(aws, endpoint_name, old, "--model-version", "v1", "--instance-count", "2")
    assert run(aws, *args)[0] == 0
    models = model_names(aws)
    new = aws.put_model_data("v2/model.tar.gz")
    args = base_args(aws, endpoint_name, new, "--model-version", "v2", "--mode", "replace")
    args += ["--traffic", "canary", "--traffic-percent", "10", "--create-alarms"]
    args += ["--autoscale-min", "1", "--autoscale-max", "4", "--dry-run"]
    aws.calls.clear()
    status, out = run(aws, *args)
    assert status == 0
    printed = [line.split()[3] for line in out.splitlines() if line.startswith("[dry-run]")]
    assert printed == [
        "sagemaker:CreateModel",
        "sagemaker:CreateEndpointConfig",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:PutMetricAlarm",
        "sagemaker:UpdateEndpoint",
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
        "sagemaker:DeleteEndpointConfig",
        "sagemaker:DeleteModel",
    ]
    assert (
        '"Type": "CANARY"' in out
        and '"AlarmName": "' + endpoint_name + '/model-latency-p99"' in out
    )
    # Only reads reached AWS.
    assert all(is_read(c) for c in aws.calls)
    assert model_names(aws) == models
    assert serving(aws, endpoint_name) == "v1"


def test_replace_brings_up_a_fleet_as_large_as_the_one_it_replaces(aws, endpoint_name):
    old = aws.put_model_data("v1/model.tar.gz")
    args = base_args(aws, endpoint_name, old, "--model-version", "v1")
    assert run(aws, *args, "--instance-type", "ml.c5.xlarge", "--instance-count", "3")[0] == 0
    session = aws.session()
    stand_in_for_update_endpoint(session)
    new = aws.put_model_data("v2/model.tar.gz")
    args = base_args(aws, endpoint_name, new, "--model-version", "v2", "--mode", "replace")
    assert run(aws, *args, "--traffic", "canary", session=session)[0] == 0
    _, config = created(aws, endpoint_name)
    (variant,) = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 3)


def test_ctrl_c_after_the_swap_then_a_rerun_retires_the_old_config_and_model(
    aws, endpoint_name, capsys
):
    old = aws.put_model_data("v1/model.tar.gz")
    assert run(aws, *base_args(aws, endpoint_name, old, "--model-version", "v1"))[0] == 0
    session = aws.session()
    stand_in_for_update_endpoint(session)
    calls_before = len(aws.calls)

    def ctrl_c_in_the_wait(model, **_):
        if "sagemaker:UpdateEndpoint" in aws.calls[calls_before:]:
            raise KeyboardInterrupt

    session.events.register("before-call.sagemaker.DescribeEndpoint", ctrl_c_in_the_wait)
    new = aws.put_model_data("v2/model.tar.gz")
    args = base_args(aws, endpoint_name, new, "--model-version", "v2", "--mode", "replace")
    assert run(aws, *args, session=session)[0] == 1
    assert "re-run the same command to resume" in capsys.readouterr().err
    assert "v1" in model_versions(aws, endpoint_name)  # interrupted before retiring

    aws.calls.clear()
    assert run(aws, *args)[0] == 0
    assert "sagemaker:UpdateEndpoint" not in aws.calls
    assert model_versions(aws, endpoint_name) == {"v2"}
    assert config_versions(aws, endpoint_name) == ["v2"]


def test_vpc_and_kms_key_reach_the_model_and_config(aws, endpoint_name):
    data = aws.put_model_data("vpc/model.tar.gz")
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    status, _ = run(
        aws, *base_args(aws, endpoint_name, data),
        "--subnet", "subnet-0a1", "--subnet", "subnet-0b2", "--security-group", "sg-0c3",
        "--kms-key-id", key,
    )  # fmt: skip
    assert status == 0
    _, config = created(aws, endpoint_name)
    model = aws.client("sagemaker").describe_model(
        ModelName=config["ProductionVariants"][0]["ModelName"]
    )
    assert model["VpcConfig"] == {
        "Subnets": ["subnet-0a1", "subnet-0b2"],
        "SecurityGroupIds": ["sg-0c3"],
    }
    assert config["KmsKeyId"] == key
    assert "AsyncInferenceConfig" not in config


def test_async_output_is_refused_with_the_reason(aws, endpoint_name, capsys):
    data = aws.put_model_data("async/model.tar.gz")
    args = base_args(aws, endpoint_name, data, "--async-output-s3", f"s3://{aws.bucket}/async")
    status, _ = run(aws, *args)
    assert status == 2
    assert "the app calls InvokeEndpoint" in capsys.readouterr().err
    assert not any(name.startswith(endpoint_name) for name in model_names(aws))
