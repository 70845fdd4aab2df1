"""What a deployment asks for, and the deterministic names of what it creates.

Names come from the model version, so a re-run of the same command (after Ctrl-C, a timeout, or
a lost connection) finds the Model and EndpointConfig it made before and carries on.
"""

import hashlib
import re
from dataclasses import dataclass, field

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
MAX_NAME = 63  # SageMaker's limit for model, endpoint config and endpoint names
_NOT_NAME = re.compile(r"[^a-zA-Z0-9-]+")
# s3://bucket/prefix/<training-job-name>/output/model.tar.gz, as a training job writes it.
_TRAINING_OUTPUT = re.compile(r"/([a-zA-Z0-9](?:-*[a-zA-Z0-9])*)/output/model\.tar\.gz$")


@dataclass(frozen=True)
class Serverless:
    """A serverless variant instead of instances."""

    memory_mb: int
    max_concurrency: int


@dataclass(frozen=True)
class DataCapture:
    """What Model Monitor reads: a sample of requests and answers written to S3."""

    percentage: int
    destination: str
    kms_key_id: str | None = None


@dataclass(frozen=True)
class Autoscaling:
    """Target tracking on SageMakerVariantInvocationsPerInstance between min and max instances."""

    min_count: int
    max_count: int
    invocations_per_instance: float
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60


@dataclass(frozen=True)
class TrafficShift:
    """How `replace` moves traffic to the new fleet (SageMaker's blue/green deployment)."""

    kind: str = "all-at-once"  # all-at-once | canary | linear
    percent: int = 10  # the canary's size, or each linear step
    wait_seconds: int = 300  # between the canary or a step and the next shift
    termination_wait_seconds: int = 300  # the old fleet stays ready for a rollback this long
    maximum_seconds: int | None = None  # the whole deployment's limit


@dataclass(frozen=True)
class Alarms:
    """CloudWatch alarms that roll a `replace` back, and whether to create ours."""

    names: tuple[str, ...] = ()
    create: bool = False
    max_5xx: int = 1  # Invocation5XXErrors in a minute at or above this: alarm
    p99_latency_ms: float = 1000.0  # ModelLatency p99 above this: alarm


@dataclass(frozen=True)
class DeploySpec:
    """Everything `python -m model.deploy` was asked for."""

    endpoint_name: str
    mode: str = "create"
    role_arn: str | None = None
    image: str | None = None
    model_data: str | None = None
    model_version: str | None = None
    variant_name: str = "primary"
    instance_type: str | None = None  # None: the replaced variant's, else DEFAULT_INSTANCE_TYPE
    instance_count: int | None = None  # None: the replaced variant's current count, else 1
    initial_weight: float = 1.0
    serverless: Serverless | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    kms_key_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    data_capture: DataCapture | None = None
    async_output: str | None = None
    autoscaling: Autoscaling | None = None
    traffic: TrafficShift = field(default_factory=TrafficShift)
    alarms: Alarms = field(default_factory=Alarms)
    archive: bool = False
    create_if_missing: bool = False
    weights: dict[str, float] = field(default_factory=dict)
    check_image: bool = True

    @property
    def version(self) -> str:
        """The model version that names the resources (given, the training job's, or a hash)."""
        if self.model_version:
            return sanitize(self.model_version)
        if self.model_data:
            match = _TRAINING_OUTPUT.search(self.model_data)
            if match:
                return match.group(1)
        digest = hashlib.sha256(
            "\n".join(
                [
                    self.image or "",
                    self.model_data or "",
                    *sorted(f"{k}={v}" for k, v in self.env.items()),
                ]
            ).encode()
        ).hexdigest()
        return digest[:12]

    @property
    def model_name(self) -> str:
        """The SageMaker Model's name."""
        return resource_name(self.endpoint_name, self.version)

    @property
    def config_name(self) -> str:
        """The EndpointConfig's name (`add` gets its own: it holds two variants)."""
        if self.mode == "add":
            return resource_name(self.endpoint_name, self.version, self.variant_name)
        return resource_name(self.endpoint_name, self.version)


def sanitize(text: str) -> str:
    """`text` as a SageMaker name part: letters, digits and single hyphens."""
    return _NOT_NAME.sub("-", text).strip("-") or "x"


def resource_name(*parts: str) -> str:
    """A SageMaker name from parts; shortened with a hash (so still unique) past 63 characters."""
    name = "-".join(sanitize(part) for part in parts)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name[: MAX_NAME - 9].rstrip("-") + "-" + digest
