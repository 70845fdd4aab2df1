"""Checks before anything is made: the role exists, the image is in ECR, the model data is in S3.

SageMaker would find these too, but only after a Model and an EndpointConfig exist, or minutes
into an endpoint's creation; a check first gives a one-line answer and leaves nothing behind.
"""

import re
from urllib.parse import urlparse

from .errors import NotFound
from .plan import Runner
from .spec import DeploySpec

ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?$"
)


def check_role(runner: Runner, role_arn: str) -> None:
    """NotFound unless the IAM role exists."""
    name = role_arn.rsplit("/", 1)[-1]
    if runner.read_or_none("iam", "GetRole", RoleName=name) is None:
        raise NotFound(
            f"role {role_arn} does not exist: create the SageMaker execution role "
            "(model/iam/sagemaker-execution-role.json) and pass its ARN with --role"
        )


def check_image(runner: Runner, image: str) -> None:
    """NotFound unless an ECR image URI names an image in its repository (other URIs pass)."""
    match = ECR_IMAGE.match(image)
    if not match:
        return
    image_id = (
        {"imageDigest": match["digest"]}
        if match["digest"]
        else {"imageTag": match["tag"] or "latest"}
    )
    found = runner.read_or_none(
        "ecr",
        "DescribeImages",
        region=match["region"],
        registryId=match["registry"],
        repositoryName=match["repository"],
        imageIds=[image_id],
    )
    if found is None:
        raise NotFound(
            f"image {image} is not in ECR: build and push it first (see model/Dockerfile)"
        )


def check_model_data(runner: Runner, uri: str) -> None:
    """NotFound unless the model.tar.gz object exists in S3."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise NotFound(f"model data {uri!r} is not an s3://bucket/key URI")
    head = runner.read_or_none(
        "s3", "HeadObject", Bucket=parsed.netloc, Key=parsed.path.lstrip("/")
    )
    if head is None:
        raise NotFound(f"model data {uri} does not exist: upload model.tar.gz first")


def check_inputs(runner: Runner, spec: DeploySpec) -> None:
    """All checks that apply to `spec`, before the first write."""
    if spec.role_arn:
        check_role(runner, spec.role_arn)
    if spec.image and spec.check_image:
        check_image(runner, spec.image)
    if spec.model_data:
        check_model_data(runner, spec.model_data)
