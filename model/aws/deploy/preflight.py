"""The deploy pre-flight, before anything is made: the role exists, the image is in ECR, the model data is in S3.

SageMaker would find these too, but only after a Model and an EndpointConfig exist, or minutes
into an endpoint's creation; verifying first gives a one-line answer and leaves nothing behind.
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


def verify_role(runner: Runner, role_arn: str) -> None:
    """NotFound unless the IAM role exists."""
    name = role_arn.rsplit("/", 1)[-1]
    if runner.read_or_none("iam", "GetRole", RoleName=name) is None:
        raise NotFound(
            f"role {role_arn} does not exist: create the SageMaker execution role "
            "(model/iam/sagemaker-execution-role.json) and pass its ARN with --role"
        )


def verify_image(runner: Runner, image: str) -> str | None:
    """The ECR image's digest (sha256:...); NotFound if absent; None for a URI outside ECR.

    The digest, not the tag, says which image a resource runs: an image pushed again under the
    same tag has a new digest.
    """
    match = ECR_IMAGE.match(image)
    if not match:
        return None
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
    details = found.get("imageDetails") or [{}]
    return details[0].get("imageDigest") or match["digest"]


def verify_model_data(runner: Runner, uri: str) -> str:
    """The model.tar.gz object's S3 version id, else its ETag; NotFound unless it exists.

    Either changes when the object is uploaded again, so a retrained artefact under the same key
    is told apart from the one a Model already serves.
    """
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise NotFound(f"model data {uri!r} is not an s3://bucket/key URI")
    head = runner.read_or_none(
        "s3", "HeadObject", Bucket=parsed.netloc, Key=parsed.path.lstrip("/")
    )
    if head is None:
        raise NotFound(f"model data {uri} does not exist: upload model.tar.gz first")
    return str(head.get("VersionId") or head.get("ETag", "")).strip('"')


def preflight(runner: Runner, spec: DeploySpec) -> str:
    """All checks that apply to `spec`, before the first write; what the model is made of.

    That is the image's digest (its URI when not checked or outside ECR) and the artefact's
    version or ETag: the names of the Model and EndpointConfig carry a hash of it.
    """
    if spec.role_arn:
        verify_role(runner, spec.role_arn)
    digest = verify_image(runner, spec.image) if spec.image and spec.check_image else None
    data_version = verify_model_data(runner, spec.model_data) if spec.model_data else ""
    return f"{digest or spec.image or ''} {spec.model_data or ''} {data_version}"
