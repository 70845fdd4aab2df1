"""What a re-run, a replace and an add do to what already runs, against moto's server over HTTP.

moto 5.2 has no UpdateEndpoint: tests/support/sagemaker_on_moto.py answers it with botocore's
Stubber (the request checked against the real API shape) and makes moto's endpoint serve the
new config, as SageMaker does when a deployment succeeds.
"""

import io
import json
import re
import uuid

import pytest
from botocore.awsrequest import AWSResponse

from model.aws.deploy import plan
from model.aws.deploy.cli import main
from tests.support.sagemaker_on_moto import stand_in_for_update_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.cloud]


@pytest.fixture
def endpoint_name() -> str:
    return f"shop-updates-{uuid.uuid4().hex[:6]}"


def run(aws, *argv: str, session=None) -> tuple[int, str]:
    out = io.StringIO()
    try:
        status = main(list(argv), session=session or aws.session(), out=out)
    except SystemExit as exit_:
        status = int(exit_.code)
    return status, out.getvalue()


def deploy_args(aws, endpoint_name: str, data: str, *extra: str) -> list[str]:
    return [
        "--endpoint-name", endpoint_name, "--image", aws.image, "--role", aws.role_arn,
        "--model-data", data, "--poll-seconds", "0.01", *extra,
    ]  # fmt: skip


def described(aws, endpoint_name: str) -> tuple[dict, dict]:
    sagemaker = aws.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    return endpoint, config


def variants(config: dict) -> dict[str, dict]:
    return {v["VariantName"]: v for v in config["ProductionVariants"]}


def model_names(aws, endpoint_name: str) -> set[str]:
    models = aws.client("sagemaker").list_models(NameContains=endpoint_name)["Models"]
    return {m["ModelName"] for m in models}


def replace(aws, endpoint_name: str, data: str, *extra: str, completes: bool = True):
    session = aws.session()
    update = stand_in_for_update_endpoint(session, completes=completes)
    args = deploy_args(aws, endpoint_name, data, "--mode", "replace", *extra)
    status, out = run(aws, *args, session=session)
    return status, out, update


def with_a_b_variant(aws, endpoint_name: str) -> tuple[str, str]:
    """An endpoint of two instances with a primary and an A/B `variant`: their model names."""
    first = aws.put_model_data("v1/model.tar.gz")
    args = deploy_args(aws, endpoint_name, first, "--model-version", "v1", "--instance-count", "2")
    assert run(aws, *args)[0] == 0
    session = aws.session()
    stand_in_for_update_endpoint(session)
    challenger = aws.put_model_data("b/model.tar.gz")
    add = deploy_args(aws, endpoint_name, challenger, "--mode", "add", "--model-version", "b")
    add += ["--variant-name", "variant", "--initial-weight", "0.3"]
    assert run(aws, *add, session=session)[0] == 0
    models = variants(described(aws, endpoint_name)[1])
    return models["primary"]["ModelName"], models["variant"]["ModelName"]


def test_a_retrained_artefact_uploaded_to_the_same_key_goes_live(aws, endpoint_name):
    data = aws.put_model_data("jobs/model.tar.gz", b"first model")
    args = deploy_args(aws, endpoint_name, data, "--model-version", "v1", "--instance-count", "2")
    assert run(aws, *args)[0] == 0
    first_config = described(aws, endpoint_name)[0]["EndpointConfigName"]
    aws.put_model_data("jobs/model.tar.gz", b"retrained model")  # same key, new ETag
    status, _, update = replace(aws, endpoint_name, data, "--model-version", "v1")
    assert status == 0
    assert [r["EndpointConfigName"] for r in update.requests] != [first_config]
    endpoint, _ = described(aws, endpoint_name)
    assert endpoint["EndpointConfigName"] != first_config
    assert endpoint["EndpointConfigName"].startswith(f"{endpoint_name}-v1-")


def test_a_re_run_with_nothing_new_changes_nothing(aws, endpoint_name):
    data = aws.put_model_data("same/model.tar.gz")
    args = deploy_args(aws, endpoint_name, data, "--model-version", "v1")
    assert run(aws, *args)[0] == 0
    status, _, update = replace(aws, endpoint_name, data, "--model-version", "v1")
    assert status == 0 and update.requests == []


def test_versions_that_would_collide_once_sanitised_are_refused(aws, endpoint_name, capsys):
    data = aws.put_model_data("v12/model.tar.gz")
    assert run(aws, *deploy_args(aws, endpoint_name, data, "--model-version", "v1-2"))[0] == 0
    capsys.readouterr()
    status, _, update = replace(aws, endpoint_name, data, "--model-version", "v1.2")
    assert status == 1
    assert "--model-version 'v1.2' would be changed" in capsys.readouterr().err
    assert update.requests == []


def test_after_a_rollback_a_fixed_artefact_under_the_same_version_is_deployed(aws, endpoint_name):
    first = aws.put_model_data("v1/model.tar.gz")
    assert run(aws, *deploy_args(aws, endpoint_name, first, "--model-version", "v1"))[0] == 0
    broken = aws.put_model_data("v2-broken/model.tar.gz")
    status, _, rolled_back = replace(
        aws, endpoint_name, broken, "--model-version", "v2", completes=False
    )
    assert status == 1
    fixed = aws.put_model_data("v2-fixed/model.tar.gz")
    status, _, update = replace(aws, endpoint_name, fixed, "--model-version", "v2")
    assert status == 0
    assert update.requests[0]["EndpointConfigName"] != rolled_back.requests[0]["EndpointConfigName"]
    _, config = described(aws, endpoint_name)
    model = aws.client("sagemaker").describe_model(
        ModelName=config["ProductionVariants"][0]["ModelName"]
    )
    assert model["PrimaryContainer"]["ModelDataUrl"] == fixed


def test_an_existing_model_made_from_something_else_stops_with_the_difference(
    aws, endpoint_name, capsys
):
    data = aws.put_model_data("env/model.tar.gz")
    args = deploy_args(aws, endpoint_name, data, "--model-version", "v1")
    assert run(aws, *args, "--env", "LOG_LEVEL=info")[0] == 0
    # The endpoint goes; its Model and EndpointConfig stay under their names.
    aws.client("sagemaker").delete_endpoint(EndpointName=endpoint_name)
    capsys.readouterr()
    status, _ = run(aws, *args, "--env", "LOG_LEVEL=debug")
    err = capsys.readouterr().err.strip()
    assert status == 1 and len(err.splitlines()) == 1
    assert "exists but its environment is {'LOG_LEVEL': 'info'}, not {'LOG_LEVEL': 'debug'}" in err


def test_replace_keeps_the_a_b_variant_and_its_model(aws, endpoint_name):
    old_primary, variant_model = with_a_b_variant(aws, endpoint_name)
    new = aws.put_model_data("v2/model.tar.gz")
    status, _, _ = replace(aws, endpoint_name, new, "--model-version", "v2", "--traffic", "canary")
    assert status == 0
    _, config = described(aws, endpoint_name)
    kept = variants(config)
    assert sorted(kept) == ["primary", "variant"]
    assert kept["variant"]["ModelName"] == variant_model
    assert kept["variant"]["InitialVariantWeight"] == pytest.approx(0.3)
    assert kept["primary"]["ModelName"] != old_primary
    names = model_names(aws, endpoint_name)
    assert variant_model in names and old_primary not in names


def test_replace_drops_a_variant_only_when_asked(aws, endpoint_name):
    _, variant_model = with_a_b_variant(aws, endpoint_name)
    new = aws.put_model_data("v2/model.tar.gz")
    status, _, _ = replace(
        aws, endpoint_name, new, "--model-version", "v2", "--drop-variant", "variant"
    )
    assert status == 0
    assert sorted(variants(described(aws, endpoint_name)[1])) == ["primary"]
    assert variant_model not in model_names(aws, endpoint_name)


def test_replace_defaults_to_the_endpoints_own_variant(aws, endpoint_name):
    data = aws.put_model_data("sdk/model.tar.gz")
    args = deploy_args(aws, endpoint_name, data, "--variant-name", "AllTraffic")
    assert run(aws, *args, "--model-version", "v1")[0] == 0
    new = aws.put_model_data("v2/model.tar.gz")
    status, _, _ = replace(aws, endpoint_name, new, "--model-version", "v2")
    assert status == 0
    assert sorted(variants(described(aws, endpoint_name)[1])) == ["AllTraffic"]


def test_replace_pauses_the_autoscaling_sagemaker_refuses_an_instance_type_change_under(
    aws, endpoint_name
):
    data = aws.put_model_data("v1/model.tar.gz")
    args = deploy_args(aws, endpoint_name, data, "--model-version", "v1", "--instance-count", "2")
    assert run(aws, *args, "--autoscale-min", "2", "--autoscale-max", "5")[0] == 0
    aws.calls.clear()
    new = aws.put_model_data("v2/model.tar.gz")
    status, _, _ = replace(
        aws, endpoint_name, new, "--model-version", "v2", "--instance-type", "ml.c5.large"
    )
    assert status == 0
    writes = [c for c in aws.calls if c.split(":")[0] != "s3" and not is_read(c)]
    assert writes == [
        "sagemaker:CreateModel",
        "sagemaker:CreateEndpointConfig",
        "application-autoscaling:DeregisterScalableTarget",
        "sagemaker:UpdateEndpoint",
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
        "sagemaker:DeleteEndpointConfig",
        "sagemaker:DeleteModel",
    ]
    scaling = aws.client("application-autoscaling")
    resource = f"endpoint/{endpoint_name}/variant/primary"
    (target,) = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)
    (policy,) = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource
    )["ScalingPolicies"]
    assert policy["PolicyName"] == f"{endpoint_name}-primary-invocations"


def test_a_model_change_alone_keeps_the_variants_autoscaling_registered(aws, endpoint_name):
    data = aws.put_model_data("v1/model.tar.gz")
    args = deploy_args(aws, endpoint_name, data, "--model-version", "v1", "--instance-count", "2")
    assert run(aws, *args, "--autoscale-min", "2", "--autoscale-max", "5")[0] == 0
    aws.calls.clear()
    new = aws.put_model_data("v2/model.tar.gz")
    assert replace(aws, endpoint_name, new, "--model-version", "v2")[0] == 0
    assert "application-autoscaling:DeregisterScalableTarget" not in aws.calls


def test_add_keeps_the_running_fleet_and_starts_the_new_variant_at_weight_zero(aws, endpoint_name):
    data = aws.put_model_data("v1/model.tar.gz")
    args = deploy_args(aws, endpoint_name, data, "--model-version", "v1", "--instance-count", "2")
    assert run(aws, *args)[0] == 0
    # Autoscaling grew the fleet, and an operator moved the weight, since the config was made.
    aws.client("sagemaker").update_endpoint_weights_and_capacities(
        EndpointName=endpoint_name,
        DesiredWeightsAndCapacities=[
            {"VariantName": "primary", "DesiredWeight": 0.8, "DesiredInstanceCount": 6}
        ],
    )
    session = aws.session()
    update = stand_in_for_update_endpoint(session)
    challenger = aws.put_model_data("b/model.tar.gz")
    add = deploy_args(aws, endpoint_name, challenger, "--mode", "add", "--model-version", "b")
    assert run(aws, *add, "--variant-name", "challenger", session=session)[0] == 0
    (request,) = update.requests
    assert request["RetainAllVariantProperties"] is True
    assert "DeploymentConfig" not in request
    config = variants(described(aws, endpoint_name)[1])
    assert config["challenger"]["InitialVariantWeight"] == 0.0
    assert config["primary"]["InitialInstanceCount"] == 6
    assert config["primary"]["InitialVariantWeight"] == pytest.approx(0.8)


def test_create_endpoint_is_retried_while_the_new_config_is_not_yet_visible(
    aws, endpoint_name, monkeypatch, capsys
):
    monkeypatch.setattr(plan, "backoff_seconds", lambda retry, attempt: 0.0)
    session = aws.session()
    refusals = []

    def not_visible_yet(**_):
        # What SageMaker answers while its eventually consistent read misses the new config.
        if len(refusals) < 2:
            refusals.append(1)
            error = {
                "Error": {
                    "Code": "ValidationException",
                    "Message": f'Could not find endpoint configuration "{endpoint_name}-v1".',
                }
            }
            return AWSResponse(None, 400, {}, None), error
        return None

    session.events.register("before-call.sagemaker.CreateEndpoint", not_visible_yet)
    data = aws.put_model_data("retry/model.tar.gz")
    args = deploy_args(aws, endpoint_name, data, "--model-version", "v1")
    status, _ = run(aws, *args, session=session)
    assert status == 0, capsys.readouterr().err
    assert len(refusals) == 2
    assert capsys.readouterr().err.count("Could not find endpoint configuration") == 2
    assert described(aws, endpoint_name)[0]["EndpointStatus"] == "InService"


def test_other_validation_errors_are_not_retried(aws, endpoint_name, monkeypatch, capsys):
    monkeypatch.setattr(plan, "backoff_seconds", lambda retry, attempt: 0.0)
    session = aws.session()
    tries = []

    def refused(**_):
        tries.append(1)
        error = {"Error": {"Code": "ValidationException", "Message": "Something else is wrong"}}
        return AWSResponse(None, 400, {}, None), error

    session.events.register("before-call.sagemaker.CreateEndpoint", refused)
    data = aws.put_model_data("noretry/model.tar.gz")
    status, _ = run(aws, *deploy_args(aws, endpoint_name, data), session=session)
    assert status == 1 and tries == [1]
    assert "Something else is wrong" in capsys.readouterr().err


def test_serverless_models_run_one_worker_and_large_models_get_longer_timeouts(aws, endpoint_name):
    data = aws.put_model_data("sl/model.tar.gz")
    args = deploy_args(aws, endpoint_name, data, "--serverless-memory", "3072")
    assert run(aws, *args)[0] == 0
    _, config = described(aws, endpoint_name)
    model = aws.client("sagemaker").describe_model(
        ModelName=config["ProductionVariants"][0]["ModelName"]
    )
    assert model["PrimaryContainer"]["Environment"] == {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}

    other = f"{endpoint_name}-big"
    args = deploy_args(aws, other, data, "--model-data-download-timeout", "1200")
    assert run(aws, *args, "--container-startup-timeout", "900")[0] == 0
    (variant,) = described(aws, other)[1]["ProductionVariants"]
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 1200
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 900


def is_read(call: str) -> bool:
    return call.split(":")[1].startswith(("Describe", "Get", "Head", "List"))


def test_delete_needs_yes(aws, endpoint_name, capsys):
    status, _ = run(aws, "--endpoint-name", endpoint_name, "--mode", "delete")
    assert status == 2
    assert "look first with --dry-run, then pass --yes" in capsys.readouterr().err


def test_delete_removes_what_was_made_for_the_endpoint_and_nothing_else(aws, endpoint_name):
    _, variant_model = with_a_b_variant(aws, endpoint_name)
    neighbour = f"{endpoint_name}-staging"
    data = aws.put_model_data("staging/model.tar.gz")
    assert run(aws, *deploy_args(aws, neighbour, data, "--model-version", "v1"))[0] == 0
    scale = deploy_args(aws, endpoint_name, data, "--mode", "replace", "--model-version", "v2")
    session = aws.session()
    stand_in_for_update_endpoint(session)
    scale += ["--autoscale-min", "2", "--autoscale-max", "4", "--create-alarms"]
    assert run(aws, *scale, session=session)[0] == 0
    made = {v["ModelName"] for v in described(aws, endpoint_name)[1]["ProductionVariants"]}
    assert len(made) == 2

    aws.calls.clear()
    dry = ["--endpoint-name", endpoint_name, "--mode", "delete", "--dry-run"]
    status, out = run(aws, *dry, "--poll-seconds", "0.01")
    assert status == 0, out
    assert all(is_read(c) for c in aws.calls)
    printed = re.findall(r"would call (\S+)", out)
    assert set(re.findall(r'"ModelName": "([^"]+)"', out)) == made
    assert printed == [
        "application-autoscaling:DeregisterScalableTarget",
        "cloudwatch:DeleteAlarms",
        "sagemaker:DeleteEndpoint",
        "sagemaker:DeleteEndpointConfig",
        "sagemaker:DeleteModel",
        "sagemaker:DeleteModel",
    ]

    status, _ = run(aws, *dry[:-1], "--yes", "--poll-seconds", "0.01")
    assert status == 0
    sagemaker = aws.client("sagemaker")
    endpoints = {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]}
    assert endpoint_name not in endpoints and neighbour in endpoints
    left = model_names(aws, endpoint_name)
    assert not left & made and variant_model in made
    assert left == model_names(aws, neighbour) != set()
    configs = sagemaker.list_endpoint_configs(NameContains=endpoint_name)["EndpointConfigs"]
    assert {c["EndpointConfigName"] for c in configs} == {
        described(aws, neighbour)[0]["EndpointConfigName"]
    }
    assert not aws.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker",
        ResourceIds=[f"endpoint/{endpoint_name}/variant/primary"],
    )["ScalableTargets"]
    alarms = aws.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{endpoint_name}/")
    assert alarms["MetricAlarms"] == []


def test_a_model_is_never_retired_while_a_variant_serves_it(aws, endpoint_name):
    primary_model, _ = with_a_b_variant(aws, endpoint_name)
    # The A/B variant now serves the primary's model too.
    same = aws.put_model_data("v1/model.tar.gz")
    session = aws.session()
    stand_in_for_update_endpoint(session)
    replace_variant = deploy_args(aws, endpoint_name, same, "--mode", "replace")
    replace_variant += ["--model-version", "v1", "--variant-name", "variant"]
    assert run(aws, *replace_variant, session=session)[0] == 0
    config = variants(described(aws, endpoint_name)[1])
    assert config["variant"]["ModelName"] == config["primary"]["ModelName"] == primary_model
    assert primary_model in model_names(aws, endpoint_name)
    assert json.dumps(sorted(config)) == '["primary", "variant"]'
