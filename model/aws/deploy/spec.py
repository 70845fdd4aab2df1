"""What a deployment asks for, and the deterministic names of what it creates.

Names come from the model version and what the model is made of (the image's digest and the
artefact's S3 version or ETag), so a re-run of the same command (after Ctrl-C, a timeout, or a
lost connection) finds the Model and EndpointConfig it made before and carries on, while a new
artefact or image under the same version or tag gets names of its own.
"""

import hashlib
import re
from dataclasses import dataclass, field

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
MAX_NAME = 63  # SageMaker's limit for model, endpoint config and endpoint names
DEFAULT_VARIANT = "primary"
# The tag every resource the command makes carries: the IAM policies scope deletes by it.
ENDPOINT_TAG = "recommender-endpoint"
_NOT_NAME = re.compile(r"[^a-zA-Z0-9-]+")
NAME_PART = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
# s3://bucket/prefix/<training-job-name>/output/model.tar.gz, as a training job writes it.
_TRAINING_OUTPUT = re.compile(r"/([a-zA-Z0-9](?:-*[a-zA-Z0-9])*)/output/model\.tar\.gz$")


@dataclass(frozen=True)
class Serverless:
    """A serverless variant instead of instances."""

    memory_mb: int
    max_concurrency: int


@dataclass(frozen=True)
class DataCapture:
    """A sample of requests and answers written to S3, for audit and debugging."""

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
    # A fleet too small for the canary or steps SageMaker accepts: "refuse" or "all-at-once".
    small_fleet: str = "refuse"


@dataclass(frozen=True)
class QualityAlarms:
    """Thresholds of the quality alarms, and where the app's figures are."""

    namespace: str  # the app's CLOUDWATCH_NAMESPACE
    model_version: str | None = None  # the version the app reports; from the package if None
    min_lift: float = 0.0  # LiftVsHoldout below this ...
    lift_days: int = 3  # ... on this many days in a row: alarm
    max_drift: float = 0.2  # DriftScore above this on a day: alarm
    max_age_days: float = 30.0  # ModelAgeDays above this: alarm


@dataclass(frozen=True)
class Alarms:
    """CloudWatch alarms that roll a `replace` back, and whether to create ours."""

    names: tuple[str, ...] = ()
    create: bool = False
    max_5xx_percent: float = 1.0  # 5xx answers, % of invocations, above this for 2 minutes: alarm
    min_invocations: int = 20  # a minute with fewer invocations is no evidence either way
    p99_latency_ms: float = 1000.0  # ModelLatency p99 above this: alarm
    topic_arn: str | None = None  # the SNS topic every alarm this tool creates notifies
    quality: QualityAlarms | None = None  # the shop's quality alarms (never rollback alarms)


@dataclass(frozen=True)
class DeploySpec:
    """Everything `python -m model.deploy` was asked for."""

    endpoint_name: str
    mode: str = "create"
    role_arn: str | None = None
    image: str | None = None
    model_data: str | None = None
    model_version: str | None = None
    variant_name: str | None = None  # None: the endpoint's one variant, else "primary"
    instance_type: str | None = None  # None: the replaced variant's, else DEFAULT_INSTANCE_TYPE
    instance_count: int | None = None  # None: the replaced variant's current count, else 1
    initial_weight: float | None = None  # None: 1 (create), 0 (add), the current one (replace)
    serverless: Serverless | None = None
    model_data_download_timeout: int | None = None  # seconds, for a large model.tar.gz
    container_startup_timeout: int | None = None  # seconds until /ping must answer
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    kms_key_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    data_capture: DataCapture | None = None
    autoscaling: Autoscaling | None = None
    traffic: TrafficShift = field(default_factory=TrafficShift)
    alarms: Alarms = field(default_factory=Alarms)
    archive: bool = False
    create_if_missing: bool = False
    weights: dict[str, float] = field(default_factory=dict)
    drop_variants: tuple[str, ...] = ()
    check_image: bool = True
    # What the model is made of, read before any write: the image digest and the artefact's
    # S3 version (or ETag). It goes into the names; "" until read (a dry run reads it too).
    content: str = ""

    @property
    def variant(self) -> str:
        """The variant this deployment makes or replaces."""
        return self.variant_name or DEFAULT_VARIANT

    @property
    def version(self) -> str:
        """The model version that names the resources (given, the training job's, or a hash)."""
        if self.model_version:
            return self.model_version
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
        """The SageMaker Model's name: the endpoint, the version, and what the model is made of."""
        return resource_name(self.endpoint_name, self.version, *self._content_part())

    @property
    def config_name(self) -> str:
        """The EndpointConfig's name (`add` gets its own: it holds two variants)."""
        if self.mode == "add":
            return resource_name(
                self.endpoint_name, self.version, *self._content_part(), self.variant
            )
        return self.model_name

    def _content_part(self) -> list[str]:
        if not self.content:
            return []
        return [hashlib.sha256(self.content.encode()).hexdigest()[:8]]


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
