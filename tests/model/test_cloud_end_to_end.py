"""The cloud loop end to end against moto's server over HTTP.

package (model.package) -> S3 -> `python -m model.deploy --mode create` as a subprocess, configured
only by boto3's environment -> the endpoint is InService with data capture and autoscaling ->
the shop, pointed at that endpoint on moto's SageMaker Runtime, renders the widget from answers
queued on moto -> `replace` with a canary -> the shop sees the new model_version -> `add` a
variant and move traffic to it -> the shop's SECOND_VARIANT arm targets that variant by name.

moto answers InvokeEndpoint with what the test queues through its moto-api (it runs no model);
UpdateEndpoint, which moto 5.2 lacks, goes through botocore's Stubber (tests/sagemaker_on_moto.py).
"""

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from contextlib import contextmanager

import pytest
from botocore.client import BaseClient
from django.test import override_settings
from django.urls import reverse

from model.aws import framework_archive as package
from model.aws.deploy.cli import main as deploy
from model.training.als import TrainingParams, fit
from recommendations.backends.base import get_backend, reset_clients
from recommendations.prefetch.model_versions import latest
from tests.support.model_server import REPO_ROOT
from tests.support.sagemaker_on_moto import REGION, stand_in_for_update_endpoint
from tests.support.shop_data import make_shop, training_interactions

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

ENDPOINT = "shop-recommender-e2e"
SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
WIDGET = re.compile(r'<section class="recommendations"([^>]*)>(.*?)</section>', re.S)
ITEM = re.compile(r'data-item-id="([^"]+)"')
LIMIT = 8


@pytest.fixture
def model_archive(tmp_path):
    """The framework container's model.tar.gz of a model trained on the shop's customers."""
    model_dir = tmp_path / "model"
    fit(training_interactions(), TrainingParams()).save(model_dir)
    return package.build_archive(model_dir, tmp_path / "model.tar.gz")


@contextmanager
def shop_settings(aws, **overrides):
    """The app pointed at the endpoint on moto's SageMaker Runtime, its client made up front."""
    reset_clients()
    with override_settings(
        RECOMMENDATIONS={
            "BACKEND": "sagemaker",
            "ENDPOINT_NAME": ENDPOINT,
            "ENDPOINT_URL": aws.url,
            "REGION": REGION,
            "BUDGET_MS": 2000,
            "CATALOG": "demo_shop.catalog.recommendations.DemoCatalog",
            **overrides,
        }
    ):
        # As use_shop_endpoint does: the first page must not fall back while the client warms up.
        get_backend().warm_up()
        yield
    reset_clients()


def answer(items: list[int], version: str) -> str:
    """A body as model/inference/handlers.py answers one user."""
    return json.dumps(
        {
            "recommendations": [
                {"item_id": str(i), "score": 1.0 - n / 100} for n, i in enumerate(items)
            ],
            "model_version": version,
            "prior": False,
        }
    )


def widget(response) -> tuple[dict[str, str], list[str]]:
    assert response.status_code == 200
    match = WIDGET.search(response.content.decode())
    assert match, "the page has no recommendations widget"
    attributes = dict(re.findall(r'data-([\w-]+)="([^"]*)"', match.group(1)))
    return attributes, ITEM.findall(match.group(2))


def run_deploy(aws, *argv: str, session=None) -> None:
    out = io.StringIO()
    assert deploy(list(argv), session=session, out=out) == 0, out.getvalue()


def test_package_deploy_serve_replace_and_add(aws, model_archive, client, monkeypatch):
    with tarfile.open(model_archive) as archive:
        names = set(archive.getnames())
    assert "code/inference.py" in names
    s3 = aws.client("s3")
    s3.upload_file(str(model_archive), aws.bucket, "models/shop-v1/model.tar.gz")
    s3.upload_file(str(model_archive), aws.bucket, "models/shop-v2/model.tar.gz")
    common = [
        "--endpoint-name", ENDPOINT,
        "--image", SKLEARN_IMAGE, "--no-check-image",  # AWS's framework image, not in our ECR
        "--role", aws.role_arn,
        "--env", "SAGEMAKER_PROGRAM=inference.py",
        "--env", "SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code",
        "--poll-seconds", "0.05",
    ]  # fmt: skip

    # create, as a person runs it: a process configured only by boto3's environment.
    created = subprocess.run(
        [
            sys.executable, "-m", "model.deploy", *common, "--mode", "create",
            "--model-data", f"s3://{aws.bucket}/models/shop-v1/model.tar.gz",
            "--model-version", "shop-v1",
            "--data-capture-percent", "20", "--data-capture-s3", f"s3://{aws.bucket}/capture",
            # Two instances: the canary below may take at most half the fleet.
            "--instance-count", "2", "--autoscale-min", "2", "--autoscale-max", "3",
        ],
        cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    sagemaker = aws.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["DataCaptureConfig"]["EnableCapture"] is True
    assert endpoint["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{aws.bucket}/capture"
    (target,) = aws.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{ENDPOINT}/variant/primary"]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 3)

    # The shop renders the widget from the endpoint's answer.
    _, users = make_shop()
    # moto loads its SageMaker Runtime backend on the first call, which can take longer than a
    # page's budget on a busy machine; one call first, before any answer is queued.
    aws.client("sagemaker-runtime").invoke_endpoint(EndpointName=ENDPOINT, Body=b"{}")
    first_items = [5, 9, 12, 17, 21, 26, 30, 33, 41, 44]
    aws.queue_endpoint_results([answer(first_items, "shop-v1")])
    with shop_settings(aws):
        client.force_login(users[0])
        attributes, items = widget(client.get(reverse("home")))
    assert attributes["source"] == "model"
    assert attributes["model-version"] == "shop-v1"
    assert items == [str(i) for i in first_items[:LIMIT]]

    # replace with a canary and auto-rollback alarms; the shop notices the new version.
    session = aws.session()
    update = stand_in_for_update_endpoint(session)
    run_deploy(
        aws, *common, "--mode", "replace",
        "--model-data", f"s3://{aws.bucket}/models/shop-v2/model.tar.gz",
        "--model-version", "shop-v2",
        "--traffic", "canary", "--traffic-percent", "10", "--create-alarms",
        session=session,
    )  # fmt: skip
    assert (
        update.requests[0]["DeploymentConfig"]["BlueGreenUpdatePolicy"][
            "TrafficRoutingConfiguration"
        ]["Type"]
        == "CANARY"
    )
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"].startswith(f"{ENDPOINT}-shop-v2-")
    # Not given again, data capture is kept.
    assert endpoint["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{aws.bucket}/capture"
    aws.queue_endpoint_results([answer(list(reversed(first_items)), "shop-v2")])
    with shop_settings(aws):
        client.force_login(users[1])
        attributes, items = widget(client.get(reverse("home")))
    assert attributes["model-version"] == "shop-v2"
    assert items[0] == "44"
    assert latest().version == "shop-v2"

    # add a second variant for the A/B, then move traffic to it.
    session = aws.session()
    stand_in_for_update_endpoint(session)
    run_deploy(
        aws, *common, "--mode", "add", "--variant-name", "variant", "--initial-weight", "0.1",
        "--model-data", f"s3://{aws.bucket}/models/shop-v1/model.tar.gz",
        "--model-version", "shop-v1b",
        session=session,
    )  # fmt: skip
    run_deploy(
        aws, "--endpoint-name", ENDPOINT, "--mode", "weights",
        "--weight", "primary=0.7", "--weight", "variant=0.3", "--poll-seconds", "0.05",
    )  # fmt: skip
    variants = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]
    assert {v["VariantName"]: v["CurrentWeight"] for v in variants} == {
        "primary": 0.7,
        "variant": 0.3,
    }

    # The app's A/B arm reaches the new variant by name.
    invoked: list[dict] = []
    original = BaseClient._make_api_call

    def recording(botocore_client, operation_name, api_params):
        if operation_name == "InvokeEndpoint":
            invoked.append(api_params)
        return original(botocore_client, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    aws.queue_endpoint_results([answer(first_items, "shop-v1b")], variant="variant")
    with shop_settings(aws, SECOND_VARIANT="variant", SECOND_VARIANT_SHARE=1.0):
        client.force_login(users[2])
        attributes, items = widget(client.get(reverse("home")))
    assert [call.get("TargetVariant") for call in invoked] == ["variant"]
    assert (attributes["source"], attributes["model-version"]) == ("model", "shop-v1b")
