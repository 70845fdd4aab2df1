"""The IAM policies in model/iam/ allow what our code calls and what the service needs, no more.

Our own calls are recorded while the code runs against moto's server: the deploy role's from the
cloud commands (train_job, deploy create / replace / add / weights), the shop's runtime role's
from the app itself (the S3 export, small and multipart; the CloudWatch figures; InvokeEndpoint).
Each recorded botocore operation is turned into the IAM action that authorises it; every one must
be in the policy, and every action in the policy must be recorded, listed in IMPLIED with the
reason a call needs it, or listed in model/iam/option-permissions.toml with the AWS page that
says which option needs it. Each entry of that table is then evaluated against the filled-in
policies (tests/support/iam_policy.py stands in for IAM's evaluation), and so is the fence
between two endpoints: the production role must not touch shop-recommender-staging's resources.
Every action in every policy must also be a real operation in botocore's service models (or one
of the IAM-only names mapped below).
"""

import io
import json
import tarfile
import tomllib
from pathlib import Path

import botocore.session
import pytest
from botocore.client import BaseClient
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from model.aws.deploy.cli import main as deploy
from model.aws.deploy.clients import Clients
from model.aws.deploy.plan import Runner
from model.aws.deploy.registry import decide, describe_package
from model.aws.promote import live_model_data
from model.aws.register import main as register
from model.aws.train_job import main as train_job
from recommendations.backends.base import get_backend, reset_clients
from recommendations.backends.predictions import PredictionRequest
from recommendations.tasks import publish_cloudwatch_metrics
from tests.support.factories import make_customer, make_order, make_product
from tests.support.iam_policy import (
    allowing_statements,
    allows,
    check_supported,
    condition_keys,
    fill,
    load,
)
from tests.support.sagemaker_on_moto import REGION, stand_in_for_update_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.cloud]

POLICIES = Path(__file__).resolve().parents[2] / "model" / "iam"
MIB = 1024 * 1024

# botocore operations that IAM authorises under another action name (AWS's Service
# Authorization Reference): S3's multipart steps are PutObject, HeadObject is GetObject, ...
ACTION_FOR_OPERATION = {
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "sagemaker-runtime:InvokeEndpoint": "sagemaker:InvokeEndpoint",
}
# IAM-only permission names (no API operation of that name exists).
PERMISSION_ONLY = {"s3:ListBucket", "s3:GetObjectVersion", "iam:PassRole"}
# Permissions no recorded call names but that the calls need, and why.
IMPLIED = {
    "deploy-role.json": {
        "iam:PassRole": "CreateModel and CreateTrainingJob hand the execution role to SageMaker",
        "sagemaker:AddTags": "SageMaker authorises a Create* call that carries Tags as AddTags too",
        "iam:CreateServiceLinkedRole": "the first RegisterScalableTarget for SageMaker creates "
        "Application Auto Scaling's service-linked role",
        "s3:AbortMultipartUpload": "boto3's upload_file aborts a multipart upload that fails",
    },
    "shop-runtime-role.json": {
        "s3:ListBucket": "without it S3 answers the first export's missing watermark with "
        "AccessDenied instead of NoSuchKey, and the export fails",
        "s3:AbortMultipartUpload": "boto3's upload_file aborts a multipart upload that fails",
    },
}
# Services an IAM prefix stands for in botocore.
BOTOCORE_SERVICES = {"sagemaker": ("sagemaker", "sagemaker-runtime")}

# Each option's permissions and the AWS page that documents them: the one table of them.
GRANTS = tomllib.loads((POLICIES / "option-permissions.toml").read_text())["grant"]
TAG = "recommender-endpoint"
PRODUCTION = "shop-recommender"
STAGING = "shop-recommender-staging"
# The values an operator puts in the placeholders, for the production endpoint.
VALUES = {
    "Region": REGION,
    "AccountId": "123456789012",
    "EndpointName": PRODUCTION,
    "Bucket": "shop-ml",
    "TrainingPrefix": "training",
    "ModelsPrefix": "models",
    "CapturePrefix": "capture",
    "CheckpointPrefix": "checkpoints",
    "Repository": "recommender",
    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/recommender-sagemaker",
    "CaptureAndOutputKmsKeyId": "11111111-2222-3333-4444-555555555555",
    "VolumeKmsKeyId": "66666666-7777-8888-9999-000000000000",
    "ExportBucket": "shop-exports",
    "ExportPrefix": "shop/training",
    "MetricsNamespace": "Shop/Recommendations",
}


def policy_actions(name: str) -> set[str]:
    document = json.loads((POLICIES / name).read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def iam_actions(calls: list[str]) -> set[str]:
    return {ACTION_FOR_OPERATION.get(call, call) for call in calls}


def documented_actions(role: str) -> set[str]:
    return {action for grant in GRANTS if grant["role"] == role for action in grant["actions"]}


def filled(name: str, endpoint: str = PRODUCTION) -> dict:
    document = load(POLICIES / name, {**VALUES, "EndpointName": endpoint})
    check_supported(document)
    return document


@pytest.mark.parametrize("name", sorted(p.name for p in POLICIES.glob("*.json")))
def test_every_action_in_a_policy_is_a_real_operation(name):
    session = botocore.session.get_session()
    mapped = set(ACTION_FOR_OPERATION.values())
    for action in policy_actions(name):
        assert "*" not in action, f"{name}: wildcard action {action}"
        if action in PERMISSION_ONLY or action in mapped:
            continue
        prefix, operation = action.split(":")
        services = BOTOCORE_SERVICES.get(prefix, (prefix,))
        assert any(
            operation in session.get_service_model(service).operation_names for service in services
        ), f"{name}: {action} is no operation of botocore's {services} models"


def test_resource_wildcards_only_where_aws_allows_no_resource():
    # Actions whose Service Authorization Reference entry has no resource type (List and
    # Describe calls, ENI housekeeping SageMaker does in your VPC), or, for Application Auto
    # Scaling, a scalable target whose ARN does not exist before it is registered.
    allowed = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", "cloudwatch:DescribeAlarms"}
    allowed |= {
        "sagemaker:ListEndpointConfigs",
        "sagemaker:ListModels",
        "sagemaker:ListModelPackages",
    }
    allowed |= {
        f"application-autoscaling:{name}"
        for name in (
            "RegisterScalableTarget", "PutScalingPolicy", "DeregisterScalableTarget",
            "DeleteScalingPolicy", "DescribeScalableTargets", "DescribeScalingPolicies",
        )
    }  # fmt: skip
    allowed |= {action for grant in GRANTS for action in grant["actions"] if action[:4] == "ec2:"}
    for path in POLICIES.glob("*.json"):
        for statement in json.loads(path.read_text())["Statement"]:
            if statement.get("Resource") == "*":
                listed = statement["Action"]
                listed = [listed] if isinstance(listed, str) else listed
                assert set(listed) <= allowed, f"{path.name}: {listed} on every resource"


def test_the_runtime_role_is_scoped_to_one_endpoint_and_one_namespace():
    statements = json.loads((POLICIES / "shop-runtime-role.json").read_text())["Statement"]
    by_action = {
        s["Action"] if isinstance(s["Action"], str) else s["Action"][0]: s for s in statements
    }
    assert by_action["sagemaker:InvokeEndpoint"]["Resource"] == (
        "arn:aws:sagemaker:${Region}:${AccountId}:endpoint/${EndpointName}"
    )
    condition = by_action["cloudwatch:PutMetricData"]["Condition"]
    assert condition == {"StringEquals": {"cloudwatch:namespace": "${MetricsNamespace}"}}


def test_the_deploy_role_allows_exactly_what_the_cloud_commands_call(aws, tmp_path):
    # Training: a local export uploaded, and an S3 export fingerprinted.
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "interactions-1.jsonl").write_text('{"user_id": "u", "item_id": "1"}\n')
    common = ["--image", aws.image, "--role", aws.role_arn, "--poll-seconds", "0.01"]
    output = ["--output", f"s3://{aws.bucket}/models"]
    upload = ["--upload-to", f"s3://{aws.bucket}/training"]
    assert train_job(["--train", str(folder), *upload, *output, *common], aws.session()) == 0
    train = ["--train", f"s3://{aws.bucket}/training", "--base-job-name", "again"]
    assert train_job([*train, *output, *common], aws.session()) == 0

    data = aws.put_model_data("models/recommender-1/output/model.tar.gz")
    endpoint = ["--endpoint-name", "shop-iam", "--model-data", data, *common]
    created = deploy(
        [*endpoint, "--instance-count", "2", "--autoscale-min", "1", "--autoscale-max", "2",
         "--create-alarms",
         "--data-capture-percent", "5", "--data-capture-s3", f"s3://{aws.bucket}/capture"],
        aws.session(),
    )  # fmt: skip
    assert created == 0
    session = aws.session()
    stand_in_for_update_endpoint(session)
    replace = [*endpoint, "--mode", "replace", "--model-version", "v2", "--traffic", "linear"]
    assert deploy(replace, session) == 0
    assert deploy(replace, aws.session()) == 0  # a re-run: finds it done, looks for leftovers
    session = aws.session()
    stand_in_for_update_endpoint(session)
    add = [*endpoint, "--mode", "add", "--model-version", "v3", "--variant-name", "variant"]
    assert deploy(add, session) == 0
    weights = ["--endpoint-name", "shop-iam", "--mode", "weights", "--weight", "variant=0.5"]
    assert deploy([*weights, "--poll-seconds", "0.01"], aws.session()) == 0

    # The Model Registry: register, the gate's decision, and a deploy of the approved package.
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        metrics = json.dumps({"model_version": "als-1", "evaluation": {}}).encode()
        info = tarfile.TarInfo("metrics.json")
        info.size = len(metrics)
        tar.addfile(info, io.BytesIO(metrics))
    packaged = aws.put_model_data("models/recommender-2/output/model.tar.gz", archive.getvalue())
    registered = io.StringIO()
    argv = ["--endpoint-name", "shop-iam", "--image", aws.image, "--model-data", packaged]
    assert register(argv, aws.session(), registered) == 0
    arn = registered.getvalue().strip()
    # The gate's own scoring is tested in tests/model/test_model_gate.py; its AWS calls are these.
    session = aws.session()
    runner = Runner(Clients(session), out=io.StringIO(), progress=io.StringIO())
    describe_package(runner, arn)
    live_model_data(runner, "shop-iam")
    decide(runner, arn, True, "approved")
    session = aws.session()
    stand_in_for_update_endpoint(session)
    package = ["--endpoint-name", "shop-iam", "--role", aws.role_arn, "--model-package", arn]
    assert deploy([*package, "--mode", "replace", "--poll-seconds", "0.01"], session) == 0

    called = iam_actions(aws.calls)
    implied = IMPLIED["deploy-role.json"]
    allowed = policy_actions("deploy-role.json")
    assert set(implied) <= allowed
    assert called <= allowed, f"called, not allowed: {sorted(called - allowed)}"
    unexplained = allowed - called - set(implied) - documented_actions("deploy-role.json")
    assert not unexplained, f"allowed, neither called nor documented: {sorted(unexplained)}"


@pytest.mark.django_db
def test_the_runtime_role_allows_exactly_what_the_app_calls(aws, monkeypatch):
    recorded: list[str] = []
    original = BaseClient._make_api_call

    def recording(client, operation_name, api_params):
        recorded.append(f"{client.meta.service_model.service_name}:{operation_name}")
        return original(client, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    make_order(make_customer(), [make_product(), make_product()])
    app = {
        **settings.RECOMMENDATIONS,
        "REGION": REGION,
        "CLOUDWATCH_NAMESPACE": "Shop/Recommendations",
    }
    with override_settings(RECOMMENDATIONS=app):
        call_command("recommendations_export", "--to", f"s3://{aws.bucket}/shop/training")
        publish_cloudwatch_metrics.apply()
    big = {
        **app,
        "CATALOG": "tests.app.test_export_s3.ManyInteractions",
        "EXPORT_S3_MULTIPART_THRESHOLD": MIB,
        "EXPORT_S3_MULTIPART_CHUNKSIZE": 5 * MIB,
    }
    with override_settings(RECOMMENDATIONS=big):
        call_command("recommendations_export", "--to", f"s3://{aws.bucket}/shop/big")
    reset_clients()
    invoke = {**app, "BACKEND": "sagemaker", "ENDPOINT_NAME": "shop-iam", "BUDGET_MS": 5000}
    aws.queue_endpoint_results(['{"recommendations": [], "model_version": "v1"}'])
    with override_settings(RECOMMENDATIONS=invoke):
        get_backend().recommend(PredictionRequest("p-1", 4), purpose="task")
    reset_clients()

    assert "s3:CompleteMultipartUpload" in recorded  # the multipart path was taken
    implied = IMPLIED["shop-runtime-role.json"]
    allowed = policy_actions("shop-runtime-role.json")
    assert set(implied) <= allowed
    assert iam_actions(recorded) == allowed - set(implied)


@pytest.mark.parametrize("grant", GRANTS, ids=[f"{g['options']} {g['actions'][0]}" for g in GRANTS])
def test_each_option_is_granted_what_aws_documents_for_it(grant):
    assert grant["source"].startswith("https://docs.aws.amazon.com/"), grant["source"]
    document = filled(grant["role"])
    context = {key: fill(value, VALUES) for key, value in grant.get("context", {}).items()}
    refused = [
        f"{action} on {fill(resource, VALUES)}"
        for action in grant["actions"]
        for resource in grant["resources"]
        if not allows(document, action, fill(resource, VALUES), context)
    ]
    assert not refused, f"{grant['role']} refuses what {grant['options']} needs: {refused}"


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:123456789012:{kind}/{name}"


def _alarm(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}"


STAGINGS = {TAG: STAGING}
# What the production role could do to staging's resources if its patterns reached them: each is
# a request as the service would authorise it, staging's resources carrying staging's tag.
STAGING_REQUESTS = [
    ("sagemaker:DeleteModel", _arn("model", f"{STAGING}-v1-0123abcd"), {}),
    ("sagemaker:DeleteEndpointConfig", _arn("endpoint-config", f"{STAGING}-v1-0123abcd"), {}),
    ("sagemaker:UpdateEndpoint", _arn("endpoint", STAGING), {}),
    ("sagemaker:UpdateEndpoint", _arn("endpoint-config", f"{STAGING}-v1-0123abcd"), {}),
    ("sagemaker:UpdateEndpointWeightsAndCapacities", _arn("endpoint", STAGING), {}),
    ("sagemaker:DeleteEndpoint", _arn("endpoint", STAGING), {}),
    ("sagemaker:CreateEndpoint", _arn("endpoint", STAGING), {f"aws:RequestTag/{TAG}": PRODUCTION}),
    # Re-tagging staging's model as production's, to delete it next.
    (
        "sagemaker:AddTags",
        _arn("model", f"{STAGING}-v1-0123abcd"),
        {f"aws:RequestTag/{TAG}": PRODUCTION, "aws:TagKeys": [TAG]},
    ),
    # Approving staging's candidate, or registering into staging's group.
    ("sagemaker:UpdateModelPackage", _arn("model-package", f"{STAGING}/1"), {}),
    ("sagemaker:CreateModelPackage", _arn("model-package-group", STAGING), {}),
    ("cloudwatch:PutMetricAlarm", _alarm(f"{STAGING}/primary/quality-drift"), {}),
    ("cloudwatch:PutMetricAlarm", _alarm(f"{STAGING}/invocation-5xx-rate"), {}),
    ("cloudwatch:DeleteAlarms", _alarm(f"{STAGING}/invocation-5xx-rate"), {}),
    (
        "cloudwatch:DeleteAlarms",
        _alarm(f"TargetTracking-endpoint/{STAGING}/variant/primary-AlarmHigh-0f1e2d3c"),
        {},
    ),
]


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    STAGING_REQUESTS,
    ids=[f"{a} {r.rsplit(':', 1)[-1]}" for a, r, _ in STAGING_REQUESTS],
)
def test_the_production_role_cannot_touch_another_endpoints_resources(action, resource, context):
    resource_tags = {f"aws:ResourceTag/{key}": value for key, value in STAGINGS.items()}
    allowed_by = allowing_statements(
        filled("deploy-role.json", PRODUCTION), action, resource, {**resource_tags, **context}
    )
    assert not allowed_by, f"{PRODUCTION}'s role may {action} {resource} (by {allowed_by})"


@pytest.mark.parametrize(
    "action", ["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:AddTags"]
)
def test_the_deploy_role_creates_only_resources_tagged_with_its_endpoint(action):
    document = filled("deploy-role.json")
    model = _arn("model", f"{PRODUCTION}-v3-0123abcd")
    tagging = {"sagemaker:TaggingAction": "CreateModel"} if action.endswith("AddTags") else {}
    assert not allows(document, action, model, tagging)
    assert not allows(document, action, model, {**tagging, f"aws:RequestTag/{TAG}": STAGING})
    assert allows(document, action, model, {**tagging, f"aws:RequestTag/{TAG}": PRODUCTION})


# Condition keys the Service Authorization Reference lists for each action we condition (the
# action's own keys and its resource types'), so a condition is one the service evaluates:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsapplicationautoscaling.html
# and the S3, CloudWatch, IAM and KMS pages of the same reference.
SERVICE_CONDITION_KEYS = {
    "sagemaker:CreateModel": {"aws:RequestTag/", "aws:TagKeys"},
    "sagemaker:CreateEndpointConfig": {"aws:RequestTag/", "aws:TagKeys"},
    "sagemaker:CreateEndpoint": {"aws:RequestTag/", "aws:TagKeys"},
    "sagemaker:AddTags": {"aws:RequestTag/", "aws:TagKeys", "sagemaker:TaggingAction"},
    "sagemaker:UpdateEndpoint": {"aws:ResourceTag/"},
    "sagemaker:DeleteEndpointConfig": {"aws:ResourceTag/"},
    "sagemaker:DeleteModel": {"aws:ResourceTag/"},
    "iam:PassRole": {"iam:PassedToService", "iam:AssociatedResourceArn"},
    "iam:CreateServiceLinkedRole": {"iam:AWSServiceName"},
    "kms:CreateGrant": {"kms:GrantIsForAWSResource"},
    "s3:ListBucket": {"s3:prefix"},
    "cloudwatch:PutMetricData": {"cloudwatch:namespace"},
    **{
        f"application-autoscaling:{name}": {
            "application-autoscaling:service-namespace",
            "application-autoscaling:scalable-dimension",
        }
        for name in (
            "RegisterScalableTarget",
            "DeregisterScalableTarget",
            "PutScalingPolicy",
            "DeleteScalingPolicy",
        )
    },
}


@pytest.mark.parametrize("name", sorted(p.name for p in POLICIES.glob("*-role.json")))
def test_every_condition_is_one_the_service_evaluates_for_each_action(name):
    for sid, actions, key in condition_keys(filled(name)):
        for action in actions:
            listed = SERVICE_CONDITION_KEYS.get(action, set())
            assert key in listed or key[: key.find("/") + 1] in listed, (
                f"{name} {sid}: {action} is not authorised with {key}"
            )


def test_the_requests_the_deploy_tool_sends_fall_inside_the_production_fence(aws):
    """Every write a real run sends, with its tags and names, is allowed by the filled policy."""
    sent: list[tuple[str, dict]] = []

    def keep(params, model, **_):
        if model.name.startswith(("Create", "Delete", "Update", "Put", "Register", "Deregister")):
            sent.append((f"{model.service_model.service_name}:{model.name}", dict(params)))

    def session():
        made = aws.session()
        made.events.register("provide-client-params", keep)
        return made

    data = aws.put_model_data("models/recommender-1/output/model.tar.gz")
    common = ["--endpoint-name", PRODUCTION, "--image", aws.image, "--role", aws.role_arn]
    common += ["--model-data", data, "--poll-seconds", "0.01"]
    scaling = ["--autoscale-min", "2", "--autoscale-max", "3", "--create-alarms"]
    assert deploy([*common, "--instance-count", "2", *scaling], session()) == 0
    replacing = session()
    stand_in_for_update_endpoint(replacing)
    replace = [*common, "--mode", "replace", "--model-version", "v2"]
    assert deploy([*replace, "--instance-type", "ml.c5.large"], replacing) == 0
    delete = [*common[:2], "--mode", "delete", "--yes", "--poll-seconds", "0.01"]
    assert deploy(delete, session()) == 0

    document = filled("deploy-role.json")
    checked = set()
    for action, params in sent:
        tags = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
        operation = action.split(":")[1]
        if action.startswith("sagemaker:"):
            kind, name = {
                "CreateModel": ("model", params.get("ModelName")),
                "DeleteModel": ("model", params.get("ModelName")),
                "CreateEndpointConfig": ("endpoint-config", params.get("EndpointConfigName")),
                "DeleteEndpointConfig": ("endpoint-config", params.get("EndpointConfigName")),
            }.get(operation, ("endpoint", params.get("EndpointName")))
            context = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
            if operation.startswith(("Delete", "Update")) and kind != "endpoint":
                context = {f"aws:ResourceTag/{TAG}": PRODUCTION}  # as made above
            if operation.startswith("Create"):
                assert tags.get(TAG) == PRODUCTION, (action, tags)
            resource = _arn(kind, name.lower() if kind != "model" else name)
        elif action.startswith("cloudwatch:"):
            names = params.get("AlarmNames") or [params["AlarmName"]]
            for alarm in names:
                assert allows(document, action, _alarm(alarm)), (action, alarm)
            checked.add(action)
            continue
        else:
            resource = "*"
            context = {
                "application-autoscaling:service-namespace": params.get("ServiceNamespace"),
                "application-autoscaling:scalable-dimension": params.get("ScalableDimension"),
            }
        assert allows(document, action, resource, context), (action, resource, context)
        checked.add(action)
    assert {
        "sagemaker:CreateModel",
        "sagemaker:UpdateEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:DeleteModel",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "application-autoscaling:DeregisterScalableTarget",
    } <= checked
