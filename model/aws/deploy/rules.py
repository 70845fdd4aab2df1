"""The service's own rules that botocore's model does not carry, checked before any call.

botocore checks a request's shape and its minimums; SageMaker refuses more than that, often
minutes into a deployment. Each rule here is one sentence of AWS's documentation, with its page,
and `check_rules` turns the first one a deployment breaks into a one-line error before anything
is created. Maximums and patterns that botocore's model does carry, but botocore does not check,
are checked against the model itself (`check_against_service_model`).
"""

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, Shape

from .errors import CommandError
from .spec import MAX_NAME, NAME_PART, DeploySpec, QualityAlarms

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
# Families whose instances carry local NVMe storage (the "d" families and the GPU ones).
_LOCAL_STORAGE = re.compile(r"^ml\.(\w+d|g4dn|g5|g6|g6e|p3dn|p4d|p4de|p5|p5e|trn1|trn1n|inf2)\.")

PAGES = {
    "traffic": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html",
    "guardrails": "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html",
    "serverless": "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html",
    "serverless-config": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html",
    "kms": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html",
    "instance-storage": "https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html",
    "names": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html",
    "variants": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html",
    "blue-green": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html",
}

DAY_SECONDS = 86_400
# PutMetricAlarm: Period times EvaluationPeriods is at most seven days (one day for periods
# shorter than an hour). https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
MAX_EVALUATION_SECONDS = 7 * DAY_SECONDS
# AlarmActions take an SNS topic's ARN (among others): arn:aws:sns:region:account-id:topic-name.
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
ALARM_PAGE = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"
)


class RefusedBySageMaker(CommandError):
    """The request breaks a documented rule of the service: nothing was created."""


@dataclass(frozen=True)
class Rule:
    """One documented rule: what it says, where AWS says it, and the check."""

    name: str
    says: str
    page: str
    broken_by: Callable[[DeploySpec], str | None]


def _shifting(spec: DeploySpec) -> bool:
    return spec.mode == "replace" and spec.traffic.kind in ("canary", "linear")


def shifted_instances(count: int, percent: int) -> int:
    """Instances a CAPACITY_PERCENT step turns on: at least one."""
    return max(1, math.ceil(count * percent / 100))


def _canary_size(spec: DeploySpec) -> str | None:
    if not _shifting(spec) or spec.traffic.kind != "canary" or spec.serverless:
        return None
    count = spec.instance_count or 1
    step = shifted_instances(count, spec.traffic.percent)
    if spec.traffic.percent > 50 or step > count / 2:
        return (
            f"a {spec.traffic.percent}% canary of {count} instance(s) turns on {step}, more than "
            f"half the fleet: use at least 2 instances (--instance-count), a canary of at most "
            "50%, or --traffic all-at-once (or --small-fleet all-at-once)"
        )
    return None


def _linear_step(spec: DeploySpec) -> str | None:
    if not _shifting(spec) or spec.traffic.kind != "linear" or spec.serverless:
        return None
    count = spec.instance_count or 1
    step = shifted_instances(count, spec.traffic.percent)
    if not 10 <= spec.traffic.percent <= 50 or step > count / 2:
        return (
            f"a linear step of {spec.traffic.percent}% of {count} instance(s) turns on {step}: "
            "steps must be 10-50% of the fleet, so at least 2 instances (--instance-count), or "
            "--traffic all-at-once (or --small-fleet all-at-once)"
        )
    return None


def _serverless_memory(spec: DeploySpec) -> str | None:
    if spec.serverless and spec.serverless.memory_mb not in SERVERLESS_MEMORY_MB:
        return (
            f"--serverless-memory {spec.serverless.memory_mb} is not one of "
            f"{', '.join(map(str, SERVERLESS_MEMORY_MB))} (MB, in 1 GB steps)"
        )
    return None


def _serverless_concurrency(spec: DeploySpec) -> str | None:
    if spec.serverless and not 1 <= spec.serverless.max_concurrency <= SERVERLESS_MAX_CONCURRENCY:
        return (
            f"--serverless-max-concurrency {spec.serverless.max_concurrency} is outside "
            f"1-{SERVERLESS_MAX_CONCURRENCY}"
        )
    return None


def _serverless_features(spec: DeploySpec) -> str | None:
    if not spec.serverless:
        return None
    refused = [
        option
        for option, used in (
            ("--data-capture-*", spec.data_capture is not None),
            ("--autoscale-*", spec.autoscaling is not None),
            ("--kms-key-id", bool(spec.kms_key_id)),
            ("--subnet/--security-group", bool(spec.subnets or spec.security_groups)),
            ("--mode add", spec.mode == "add"),
        )
        if used
    ]
    if refused:
        return f"a serverless variant does not support {', '.join(refused)}"
    return None


def _serverless_shift(spec: DeploySpec) -> str | None:
    if spec.serverless and _shifting(spec):
        return (
            "a serverless variant has no instances to shift a canary or linear steps over: "
            "use --traffic all-at-once"
        )
    return None


def has_local_storage(instance_type: str) -> bool:
    """Whether an ML instance type carries local NVMe storage (no volume KMS key then)."""
    return bool(_LOCAL_STORAGE.match(instance_type))


def _volume_key_on_local_storage(spec: DeploySpec) -> str | None:
    instance_type = spec.instance_type or ""
    if spec.kms_key_id and has_local_storage(instance_type):
        return (
            f"{instance_type} has local NVMe storage, which its own hardware encrypts: SageMaker "
            "refuses --kms-key-id with it; leave the volume key out or choose an EBS type"
        )
    return None


def _names(spec: DeploySpec) -> str | None:
    for option, value in (
        ("--endpoint-name", spec.endpoint_name),
        ("--variant-name", spec.variant_name),
        *(("--drop-variant", name) for name in spec.drop_variants),
        *(("--weight", name) for name in spec.weights),
    ):
        if value is not None and (len(value) > MAX_NAME or not NAME_PART.match(value)):
            return (
                f"{option} {value!r} is not a SageMaker name: at most {MAX_NAME} letters, digits "
                "and hyphens, starting and ending with a letter or digit"
            )
    if spec.model_version and not NAME_PART.match(spec.model_version):
        return (
            f"--model-version {spec.model_version!r} would be changed to fit a SageMaker name, "
            "and could then collide with another version: use letters, digits and hyphens only"
        )
    return None


def _deployment_timeout(spec: DeploySpec) -> str | None:
    traffic = spec.traffic
    if not traffic.maximum_seconds or spec.mode != "replace":
        return None
    waited = traffic.termination_wait_seconds
    if traffic.kind != "all-at-once":
        waited += traffic.wait_seconds
    if traffic.maximum_seconds <= waited:
        return (
            f"--max-deployment-seconds {traffic.maximum_seconds} must be larger than the waits it "
            f"covers ({waited} s: --traffic-wait-seconds and --termination-wait-seconds)"
        )
    return None


def _variant_timeouts(spec: DeploySpec) -> str | None:
    for option, value in (
        ("--model-data-download-timeout", spec.model_data_download_timeout),
        ("--container-startup-timeout", spec.container_startup_timeout),
    ):
        if value is not None and not 60 <= value <= 3600:
            return f"{option} {value} is outside 60-3600 seconds"
    return None


def evaluation_problem(quality: QualityAlarms) -> str | None:
    """Why CloudWatch would refuse the lift alarm's evaluation range (None when it accepts it)."""
    if quality.lift_days < 1 or quality.lift_days * DAY_SECONDS > MAX_EVALUATION_SECONDS:
        return (
            f"--alarm-lift-days {quality.lift_days}: a daily alarm evaluates 1 to "
            f"{MAX_EVALUATION_SECONDS // DAY_SECONDS} days"
        )
    return None


def topic_problem(topic_arn: str | None) -> str | None:
    """Why `topic_arn` is not an SNS topic ARN an alarm can notify (None when it is)."""
    if topic_arn and not SNS_TOPIC_ARN.match(topic_arn):
        return f"--alarm-topic-arn {topic_arn!r} is not an SNS topic ARN"
    return None


def _quality_evaluation(spec: DeploySpec) -> str | None:
    quality = spec.alarms.quality
    return evaluation_problem(quality) if spec.alarms.create and quality else None


def _alarm_topic(spec: DeploySpec) -> str | None:
    return topic_problem(spec.alarms.topic_arn)


RULES: tuple[Rule, ...] = (
    Rule(
        "canary-size",
        "CanarySize must be at most 50% of the variant's instance count",
        PAGES["traffic"],
        _canary_size,
    ),
    Rule(
        "linear-step",
        "LinearStepSize must be 10-50% of the variant's instance count",
        PAGES["traffic"],
        _linear_step,
    ),
    Rule(
        "serverless-memory",
        "MemorySizeInMB is 1024-6144 in 1 GB steps",
        PAGES["serverless-config"],
        _serverless_memory,
    ),
    Rule(
        "serverless-concurrency",
        "MaxConcurrency is 1-200",
        PAGES["serverless-config"],
        _serverless_concurrency,
    ),
    Rule(
        "serverless-features",
        "serverless endpoints exclude data capture, VPC configuration and multiple production "
        "variants, scale without instance autoscaling, and have no storage volume to encrypt",
        PAGES["serverless"],
        _serverless_features,
    ),
    Rule(
        "serverless-traffic-shifting",
        "canary and linear steps are sizes of an instance fleet",
        PAGES["guardrails"],
        _serverless_shift,
    ),
    Rule(
        "volume-key-local-storage",
        "no KmsKeyId with instance types that have local storage: CreateEndpointConfig fails",
        PAGES["kms"],
        _volume_key_on_local_storage,
    ),
    Rule(
        "names",
        "endpoint, config, model and variant names: 63 characters of [a-zA-Z0-9-]",
        PAGES["names"],
        _names,
    ),
    Rule(
        "deployment-timeout",
        "MaximumExecutionTimeoutInSeconds should be larger than the waits it covers",
        PAGES["blue-green"],
        _deployment_timeout,
    ),
    Rule(
        "variant-timeouts",
        "ModelDataDownloadTimeoutInSeconds and ContainerStartupHealthCheckTimeoutInSeconds: "
        "60-3600",
        PAGES["variants"],
        _variant_timeouts,
    ),
    Rule(
        "alarm-evaluation-range",
        "an alarm's Period times EvaluationPeriods is at most seven days",
        ALARM_PAGE,
        _quality_evaluation,
    ),
    Rule(
        "alarm-action",
        "AlarmActions name an SNS topic as arn:aws:sns:region:account-id:topic-name",
        ALARM_PAGE,
        _alarm_topic,
    ),
)


def check_rules(spec: DeploySpec) -> None:
    """RefusedBySageMaker for the first documented rule `spec` breaks."""
    for rule in RULES:
        broken = rule.broken_by(spec)
        if broken:
            raise RefusedBySageMaker(f"{broken} [SageMaker rule {rule.name}: {rule.page}]")


def check_against_service_model(operation: OperationModel, params: dict[str, Any]) -> None:
    """RefusedBySageMaker where `params` break a maximum, enum or pattern of botocore's model.

    botocore validates shapes, types and minimums on the client; the maximums, enums and
    patterns its model carries are left to the service, which refuses them only on the call.
    """
    problem = _first_problem(operation.input_shape, params, operation.name)
    if problem:
        raise RefusedBySageMaker(
            f"{operation.service_model.service_name}:{operation.name}: {problem} [the API's own "
            "model, which botocore does not check on the client]"
        )


def _first_problem(shape: Shape | None, value: Any, path: str) -> str | None:
    if shape is None or value is None:
        return None
    meta = shape.metadata
    if shape.type_name in ("structure", "list", "map") and isinstance(value, list | dict):
        if shape.type_name != "structure" and "max" in meta and len(value) > meta["max"]:
            return f"{path} has {len(value)} entries, at most {meta['max']} allowed"
        return next((problem for problem in _member_problems(shape, value, path) if problem), None)
    if shape.type_name in ("integer", "long", "double", "float") and isinstance(value, int | float):
        if "max" in meta and value > meta["max"]:
            return f"{path} is {value}, at most {meta['max']} allowed"
        return None
    if shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            return f"{path} is {len(value)} characters long, at most {meta['max']} allowed"
        if shape.enum and value not in shape.enum:
            return f"{path} is {value!r}, not one of {', '.join(shape.enum)}"
        pattern = meta.get("pattern")
        if pattern and not _matches(pattern, value):
            return f"{path} {value!r} does not match the pattern {pattern}"
    return None


def _member_problems(shape: Shape, value: Any, path: str) -> Iterator[str | None]:
    if shape.type_name == "structure":
        for key, item in value.items():
            yield _first_problem(shape.members.get(key), item, f"{path}.{key}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            yield _first_problem(shape.member, item, f"{path}[{index}]")
    else:
        for key, item in value.items():
            yield _first_problem(shape.key, key, f"{path} key")
            yield _first_problem(shape.value, item, f"{path}[{key}]")


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value, flags=re.DOTALL) is not None
    except re.error:
        # A pattern in Java's dialect that Python cannot read: the service checks it.
        return True
