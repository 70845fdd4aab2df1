"""The requests that make a SageMaker Model, EndpointConfig and Endpoint from a `DeploySpec`."""

import dataclasses
from typing import Any

from .plan import Call
from .spec import DEFAULT_INSTANCE_TYPE, ENDPOINT_TAG, DeploySpec

REPLACES_TAG = "replaces-endpoint-config"
# SageMaker advises one model server worker on serverless: memory, not CPUs, is what it sells.
SERVERLESS_ENVIRONMENT = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}


def tags(spec: DeploySpec, **extra: str) -> list[dict[str, str]]:
    """The resources' tags: the ones asked for, the model version, and the endpoint they serve."""
    merged = {
        "model-version": spec.version,
        **spec.tags,
        **extra,
        ENDPOINT_TAG: spec.endpoint_name,
    }
    return [{"Key": key, "Value": value} for key, value in sorted(merged.items())]


def model_environment(spec: DeploySpec) -> dict[str, str]:
    """The container's environment: what was asked, plus one worker on serverless."""
    if spec.serverless:
        return {**SERVERLESS_ENVIRONMENT, **spec.env}
    return dict(spec.env)


def create_model(spec: DeploySpec) -> Call:
    """CreateModel: the image (and model.tar.gz for a framework container) with the role."""
    container: dict[str, Any] = {"Image": spec.image, "Mode": "SingleModel"}
    if spec.model_data:
        container["ModelDataUrl"] = spec.model_data
    environment = model_environment(spec)
    if environment:
        container["Environment"] = environment
    params: dict[str, Any] = {
        "ModelName": spec.model_name,
        "ExecutionRoleArn": spec.role_arn,
        "PrimaryContainer": container,
        "Tags": tags(spec),
    }
    if spec.subnets or spec.security_groups:
        params["VpcConfig"] = {
            "Subnets": list(spec.subnets),
            "SecurityGroupIds": list(spec.security_groups),
        }
    return Call("sagemaker", "CreateModel", params, f"model version {spec.version}")


def production_variant(spec: DeploySpec, weight: float) -> dict[str, Any]:
    """The new variant: instances (type, count) or serverless (memory, concurrency)."""
    variant: dict[str, Any] = {
        "VariantName": spec.variant,
        "ModelName": spec.model_name,
        "InitialVariantWeight": float(weight),
    }
    if spec.serverless:
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": spec.serverless.memory_mb,
            "MaxConcurrency": spec.serverless.max_concurrency,
        }
    else:
        variant["InstanceType"] = spec.instance_type or DEFAULT_INSTANCE_TYPE
        variant["InitialInstanceCount"] = spec.instance_count or 1
    if spec.model_data_download_timeout:
        variant["ModelDataDownloadTimeoutInSeconds"] = spec.model_data_download_timeout
    if spec.container_startup_timeout:
        variant["ContainerStartupHealthCheckTimeoutInSeconds"] = spec.container_startup_timeout
    return variant


def create_endpoint_config(
    spec: DeploySpec, variants: list[dict[str, Any]], why: str = "", replaces: str | None = None
) -> Call:
    """CreateEndpointConfig with `variants`, data capture and KMS as asked.

    `replaces` (the config the endpoint serves now) is kept as a tag, so that a run interrupted
    after the swap can still find and retire it.
    """
    extra = {REPLACES_TAG: replaces} if replaces else {}
    params: dict[str, Any] = {
        "EndpointConfigName": spec.config_name,
        "ProductionVariants": variants,
        "Tags": tags(spec, **extra),
    }
    if spec.kms_key_id:
        params["KmsKeyId"] = spec.kms_key_id
    if spec.data_capture:
        capture: dict[str, Any] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": spec.data_capture.percentage,
            "DestinationS3Uri": spec.data_capture.destination,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        }
        if spec.data_capture.kms_key_id:
            capture["KmsKeyId"] = spec.data_capture.kms_key_id
        params["DataCaptureConfig"] = capture
    return Call("sagemaker", "CreateEndpointConfig", params, why)


def existing_variants(
    config: dict[str, Any], endpoint: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The variants of a described EndpointConfig, as CreateEndpointConfig takes them.

    With the described `endpoint`, each carries its current instance count and weight instead of
    the initial ones: autoscaling and `--mode weights` have moved them since.
    """
    keep = (
        "VariantName",
        "ModelName",
        "InitialInstanceCount",
        "InstanceType",
        "InitialVariantWeight",
        "ServerlessConfig",
        "AcceleratorType",
        "VolumeSizeInGB",
        "ModelDataDownloadTimeoutInSeconds",
        "ContainerStartupHealthCheckTimeoutInSeconds",
    )
    running = {v["VariantName"]: v for v in (endpoint or {}).get("ProductionVariants", [])}
    variants = []
    for variant in config.get("ProductionVariants", []):
        kept = {key: variant[key] for key in keep if key in variant}
        now = running.get(variant["VariantName"], {})
        if "InitialInstanceCount" in kept and now.get("CurrentInstanceCount"):
            kept["InitialInstanceCount"] = now["CurrentInstanceCount"]
        if now.get("CurrentWeight") is not None:
            kept["InitialVariantWeight"] = float(now["CurrentWeight"])
        variants.append(kept)
    return variants


def with_current_capacity(
    spec: DeploySpec, endpoint: dict[str, Any], config: dict[str, Any]
) -> DeploySpec:
    """`spec` with the instance type and count of the variant it replaces, where not given.

    A blue/green update brings up a new fleet beside the old one; it should be as large as the
    old one is now (autoscaling may have grown it), or the canary shifts traffic onto too few.
    """
    if spec.serverless or (spec.instance_type and spec.instance_count):
        return spec
    configured = config.get("ProductionVariants") or [{}]
    running = endpoint.get("ProductionVariants") or [{}]
    old = next((v for v in configured if v.get("VariantName") == spec.variant), {})
    now = next((v for v in running if v.get("VariantName") == spec.variant), {})
    return dataclasses.replace(
        spec,
        instance_type=spec.instance_type or old.get("InstanceType"),
        instance_count=spec.instance_count
        or now.get("CurrentInstanceCount")
        or old.get("InitialInstanceCount"),
    )


def kept_settings(config: dict[str, Any]) -> dict[str, Any]:
    """What a new config keeps from the endpoint's current one unless given again.

    Data capture above all: an audit trail that a replace silently dropped would stop there.
    """
    keep = ("DataCaptureConfig", "KmsKeyId")
    return {key: config[key] for key in keep if config.get(key)}


def create_endpoint(spec: DeploySpec) -> Call:
    """CreateEndpoint on the new EndpointConfig."""
    params = {
        "EndpointName": spec.endpoint_name,
        "EndpointConfigName": spec.config_name,
        "Tags": tags(spec),
    }
    return Call("sagemaker", "CreateEndpoint", params, "new endpoint")
