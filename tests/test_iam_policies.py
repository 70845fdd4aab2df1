"""The IAM policies in model/iam/ allow what our code calls, and nothing more.

The calls are recorded while the code runs against moto's server: the deploy role's from the
cloud commands (train_job, deploy create / replace / add / weights), the shop's runtime role's
from the app itself (the S3 export, small and multipart; the CloudWatch figures; InvokeEndpoint).
Each recorded botocore operation is turned into the IAM action that authorises it, and the set
must equal the policy's actions, apart from the few permissions listed in IMPLIED with the reason
a call needs them. Every action in every policy must also be a real operation in botocore's
service models (or one of the IAM-only names mapped below).
"""

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.client import BaseClient
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from model.deploy.cli import main as deploy
from model.train_job import main as train_job
from recommendations.backends.base import get_backend, reset_clients
from recommendations.backends.predictions import PredictionRequest
from recommendations.tasks import publish_cloudwatch_metrics
from tests.support.factories import make_customer, make_order, make_product
from tests.support.sagemaker_on_moto import REGION, aws_on_moto, stand_in_for_update_endpoint

pytestmark = pytest.mark.integration

POLICIES = Path(__file__).resolve().parent.parent / "model" / "iam"
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
PERMISSION_ONLY = {"s3:ListBucket", "iam:PassRole"}
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


@pytest.fixture
def aws(moto_url, monkeypatch, tmp_path):
    return aws_on_moto(moto_url, monkeypatch, tmp_path)


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
    allowed = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}
    allowed |= {"application-autoscaling:RegisterScalableTarget"}
    allowed |= {"application-autoscaling:PutScalingPolicy"}
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
        [*endpoint, "--autoscale-min", "1", "--autoscale-max", "2", "--create-alarms",
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

    called = iam_actions(aws.calls)
    implied = IMPLIED["deploy-role.json"]
    allowed = policy_actions("deploy-role.json")
    assert set(implied) <= allowed
    assert called == allowed - set(implied)


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
        "CATALOG": "tests.test_export_s3.ManyInteractions",
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
