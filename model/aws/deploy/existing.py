"""A Model or EndpointConfig that already carries the name asked for: the same one, or an error.

Names are deterministic so that a re-run resumes; reusing a resource is only right when it is
the one this run would make. Anything that differs is named in the error, never reused silently.
"""

from typing import Any

from .errors import CommandError

_WHAT_TO_DO = (
    "give this model another --model-version, or remove the old one first (--mode delete "
    "removes an endpoint and everything made for it)"
)


class DifferentResource(CommandError):
    """A resource of the asked-for name exists, made from something else."""


def check_same_model(existing: dict[str, Any], request: dict[str, Any]) -> None:
    """DifferentResource unless DescribeModel's answer is what CreateModel `request` would make."""
    have = existing.get("PrimaryContainer") or {}
    want = request["PrimaryContainer"]
    differences = [
        f"{label} is {theirs!r}, not {ours!r}"
        for label, theirs, ours in (
            ("its image", have.get("Image"), want.get("Image")),
            ("its ModelDataUrl", have.get("ModelDataUrl"), want.get("ModelDataUrl")),
            ("its environment", have.get("Environment") or {}, want.get("Environment") or {}),
            ("its role", existing.get("ExecutionRoleArn"), request.get("ExecutionRoleArn")),
            ("its VPC", _vpc(existing.get("VpcConfig")), _vpc(request.get("VpcConfig"))),
        )
        if theirs != ours
    ]
    if differences:
        raise DifferentResource(
            f"model {request['ModelName']} exists but {'; '.join(differences)}: {_WHAT_TO_DO}"
        )


def check_same_config(existing: dict[str, Any], request: dict[str, Any], variant: str) -> None:
    """DifferentResource unless an existing EndpointConfig holds what `request` asks for.

    Instance counts and weights are left out: a config records them as they were when it was
    made, and autoscaling moves them on the endpoint since.
    """
    have = {v["VariantName"]: v for v in existing.get("ProductionVariants", [])}
    want = {v["VariantName"]: v for v in request["ProductionVariants"]}
    differences = []
    if sorted(have) != sorted(want):
        differences.append(f"its variants are {sorted(have)}, not {sorted(want)}")
    else:
        for name, ours in want.items():
            theirs = have[name]
            for key in (
                "ModelName",
                "InstanceType",
                "ServerlessConfig",
                "ModelDataDownloadTimeoutInSeconds",
                "ContainerStartupHealthCheckTimeoutInSeconds",
            ):
                if _serverless(theirs.get(key), key) != _serverless(ours.get(key), key):
                    label = f"variant {name}'s {key}" if name != variant else key
                    differences.append(f"{label} is {theirs.get(key)!r}, not {ours.get(key)!r}")
    for key in ("KmsKeyId",):
        if existing.get(key) != request.get(key):
            differences.append(f"{key} is {existing.get(key)!r}, not {request.get(key)!r}")
    capture_have = (existing.get("DataCaptureConfig") or {}).get("DestinationS3Uri")
    capture_want = (request.get("DataCaptureConfig") or {}).get("DestinationS3Uri")
    if capture_have != capture_want:
        differences.append(f"data capture goes to {capture_have!r}, not {capture_want!r}")
    if differences:
        raise DifferentResource(
            f"endpoint config {request['EndpointConfigName']} exists but "
            f"{'; '.join(differences)}: {_WHAT_TO_DO}"
        )


def _vpc(config: dict[str, Any] | None) -> tuple[list[str], list[str]] | None:
    if not config:
        return None
    return sorted(config.get("Subnets", [])), sorted(config.get("SecurityGroupIds", []))


def _serverless(value: Any, key: str) -> Any:
    if key == "ServerlessConfig" and value:
        return (value.get("MemorySizeInMB"), value.get("MaxConcurrency"))
    return value
