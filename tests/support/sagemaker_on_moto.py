"""An AWS account on moto's server for the cloud commands' tests, and moto's one missing call.

`AwsOnMoto` points boto3's own configuration chain at moto (`AWS_ENDPOINT_URL`, test keys, a
region, no config files), so the commands under test are run exactly as a person would run them,
and holds what a deployment needs there: an execution role in IAM, an image in ECR, a bucket.

moto 5.2 does not implement SageMaker's `UpdateEndpoint` (it answers HTTP 500). `stand_in_for_update_endpoint`
answers that one call through botocore's `Stubber`, which validates the request against the
real API shape and the answer against the real response shape, and then does to moto's
endpoint what SageMaker does at the end of a successful deployment: the endpoint serves the new
endpoint config (moto can only do that by recreating it). With `completes=False` it stands for
a deployment that SageMaker rolled back: the endpoint stays on its old config.
"""

import io
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from model.aws.deploy.clients import Clients
from model.aws.deploy.plan import Runner

REGION = "eu-west-1"
# Loading a service's model takes most of a second; sessions in the tests share one loader.
_LOADER = botocore.loaders.create_loader()
ACCOUNT = "123456789012"  # moto's account


@dataclass
class AwsOnMoto:
    """boto3's environment set to moto, with a role, an ECR image and a bucket in place."""

    url: str
    role_arn: str
    image: str
    bucket: str
    calls: list[str] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict)

    def session(self, record: bool = True) -> boto3.session.Session:
        """A session for the command under test; its calls are added to `calls` ("s:Op")."""
        session = new_session()
        if record:
            session.events.register("provide-client-params", self._record)
        return session

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}:{model.name}")

    def client(self, service: str) -> Any:
        """The test's own client (not recorded), to look at what a command made."""
        if service not in self._clients:
            self._clients[service] = new_session().client(service)
        return self._clients[service]

    def put_model_data(self, key: str, body: bytes = b"model") -> str:
        """An object standing for a model.tar.gz; its s3:// URI."""
        self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def queue_endpoint_results(self, bodies: list[str], variant: str = "primary") -> None:
        """Answers moto's sagemaker-runtime gives to the next InvokeEndpoint calls, in order."""
        import urllib.request

        document = {
            "account_id": ACCOUNT,
            "region": REGION,
            "results": [
                {
                    "Body": body,
                    "ContentType": "application/json",
                    "InvokedProductionVariant": variant,
                }
                for body in bodies
            ],
        }
        request = urllib.request.Request(
            f"{self.url}/moto-api/static/sagemaker/endpoint-results",
            data=json.dumps(document).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201


def new_session() -> boto3.session.Session:
    """A boto3 session configured from the environment, sharing the tests' model loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core)


def aws_on_moto(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> AwsOnMoto:
    """Set boto3's environment to moto's server and make the role, image and bucket there."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # A developer's own AWS files must not change what the tests do.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SAGEMAKER"):
        monkeypatch.delenv(name, raising=False)
    suffix = uuid.uuid4().hex[:8]
    session = new_session()
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        RoleName=f"sagemaker-execution-{suffix}", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    ecr = session.client("ecr")
    repository = f"recommender-{suffix}"
    ecr.create_repository(repositoryName=repository)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "0" * 64},
        "layers": [],
    }
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag="1")
    bucket = f"models-{suffix}"
    session.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return AwsOnMoto(
        url=url,
        role_arn=role["Arn"],
        image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}:1",
        bucket=bucket,
    )


@dataclass
class UpdateEndpointStandIn:
    """What the stand-in saw: the UpdateEndpoint requests, as the code sent them."""

    requests: list[dict[str, Any]] = field(default_factory=list)


def stand_in_for_update_endpoint(
    session: boto3.session.Session, *, completes: bool = True
) -> UpdateEndpointStandIn:
    """Answer UpdateEndpoint for clients of `session` (moto 5.2 lacks it; see the module doc)."""
    seen = UpdateEndpointStandIn()
    stubbed = new_session().client("sagemaker")
    stubber = Stubber(stubbed)
    stubber.activate()
    moto_sagemaker = new_session().client("sagemaker")

    def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["update_endpoint_params"] = dict(params)

    def answer(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context["update_endpoint_params"]
        seen.requests.append(params)
        endpoint = moto_sagemaker.describe_endpoint(EndpointName=params["EndpointName"])
        stubber.add_response("update_endpoint", {"EndpointArn": endpoint["EndpointArn"]}, params)
        parsed = stubbed.update_endpoint(**params)
        stubber.assert_no_pending_responses()
        if completes:
            moto_sagemaker.delete_endpoint(EndpointName=params["EndpointName"])
            moto_sagemaker.create_endpoint(
                EndpointName=params["EndpointName"],
                EndpointConfigName=params["EndpointConfigName"],
            )
        return AWSResponse(None, 200, {}, None), parsed

    session.events.register("provide-client-params.sagemaker.UpdateEndpoint", keep_params)
    session.events.register("before-call.sagemaker.UpdateEndpoint", answer)
    return seen


class StubbedClients(Clients):
    """Clients that hand every call to one Stubber-activated client (no network, no credentials)."""

    def __init__(self, client) -> None:
        super().__init__(boto3.session.Session(region_name="eu-west-1"))
        self.client = client

    def get(self, service, region=None):
        return self.client


def runner_for(client) -> Runner:
    """A runner whose every call goes to `client` (a Stubber-activated one), printing nowhere."""
    return Runner(StubbedClients(client), out=io.StringIO(), progress=io.StringIO())
