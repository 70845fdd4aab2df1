"""`python -m model.deploy`: put a model on a SageMaker endpoint (see docs/deploy.md).

Exit status: 0 done, 1 an AWS-side failure (one line on stderr, never a traceback), 2 bad usage.
"""

import argparse
import sys
from typing import TextIO

import boto3

from .clients import Clients
from .errors import CommandError
from .modes import Waiting, deploy
from .plan import Runner
from .registry import from_package
from .spec import (
    Alarms,
    Autoscaling,
    DataCapture,
    DeploySpec,
    QualityAlarms,
    Serverless,
    TrafficShift,
)
from .waiting import DEFAULT_POLL, DEFAULT_TIMEOUT

MODES = ("create", "replace", "add", "weights", "delete")


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m model.deploy",
        description="Create or update a SageMaker endpoint (AWS settings from boto3's chain).",
    )
    add = parser.add_argument
    add("--endpoint-name", required=True, help="the SageMaker endpoint")
    add("--mode", choices=MODES, default="create", help="create | replace | add | weights | delete")
    add("--image", help="inference image URI (ECR), or a framework container's")
    add("--model-data", help="s3://.../model.tar.gz (for a framework container or a trained job)")
    add("--role", help="ARN of the SageMaker execution role")
    add(
        "--model-package",
        metavar="ARN",
        help="deploy this Approved model package (its image and artefact) instead of "
        "--image/--model-data",
    )
    add("--model-version", help="names the Model and EndpointConfig (default: from --model-data)")
    add(
        "--variant-name",
        help="the variant to make or replace (default: the endpoint's only one, else primary)",
    )
    add("--drop-variant", action="append", default=[], help="replace: end this variant (repeat)")
    add("--instance-type", help="default: the replaced variant's, else ml.m5.large")
    add("--instance-count", type=int, help="default: the replaced variant's current count, else 1")
    add(
        "--initial-weight",
        type=float,
        help="the variant's weight (default: 1 on create, 0 on add, the current one on replace)",
    )
    add("--model-data-download-timeout", type=int, metavar="SECONDS", help="60-3600")
    add("--container-startup-timeout", type=int, metavar="SECONDS", help="60-3600, until /ping")
    add("--serverless-memory", type=int, metavar="MB", help="serverless instead of instances")
    add("--serverless-max-concurrency", type=int, default=5)
    add("--subnet", action="append", default=[], help="VPC subnet id (repeat)")
    add("--security-group", action="append", default=[], help="VPC security group id (repeat)")
    add("--kms-key-id", help="KMS key for the endpoint's storage volume")
    add("--env", action="append", default=[], metavar="KEY=VALUE", help="container environment")
    add("--tag", action="append", default=[], metavar="KEY=VALUE", help="resource tag (repeat)")
    add("--data-capture-percent", type=int, help="capture this %% of requests and answers")
    add("--data-capture-s3", metavar="S3_URI", help="where captured data goes")
    add("--data-capture-kms-key")
    add("--async-output-s3", help=argparse.SUPPRESS)
    add("--autoscale-min", type=int, help="instances at least (with --autoscale-max)")
    add("--autoscale-max", type=int, help="instances at most")
    add("--autoscale-target", type=float, default=100.0, help="invocations per instance a minute")
    add("--traffic", choices=("all-at-once", "canary", "linear"), default="all-at-once")
    add("--traffic-percent", type=int, default=10, help="canary size or linear step, in %%")
    add(
        "--small-fleet",
        choices=("refuse", "all-at-once"),
        default="refuse",
        help="a fleet too small for the canary or steps SageMaker accepts: refuse, or shift "
        "all at once",
    )
    add("--traffic-wait-seconds", type=int, default=300, help="wait between traffic shifts")
    add("--termination-wait-seconds", type=int, default=300, help="old fleet kept this long")
    add("--max-deployment-seconds", type=int, help="limit for the whole blue/green deployment")
    add("--rollback-alarm", action="append", default=[], help="CloudWatch alarm name (repeat)")
    add("--create-alarms", action="store_true", help="create 5xx-rate and p99 latency alarms")
    add("--alarm-5xx-percent", type=float, default=1.0, help="5xx %% of invocations that trips")
    add("--alarm-min-invocations", type=int, default=20, help="fewer a minute count as 0 %%")
    add("--alarm-p99-ms", type=float, default=1000.0, help="p99 ModelLatency that trips it")
    add("--alarm-topic-arn", help="SNS topic every created alarm notifies (AlarmActions)")
    add(
        "--metrics-namespace",
        help="the app's CLOUDWATCH_NAMESPACE: with --create-alarms, also create quality alarms",
    )
    add(
        "--app-model-version",
        help="the ModelVersion the app reports for this model (default: the package's)",
    )
    add("--alarm-min-lift", type=float, default=0.0, help="LiftVsHoldout below this ...")
    add("--alarm-lift-days", type=int, default=3, help="... for this many days: alarm (1-7)")
    add("--alarm-max-drift", type=float, default=0.2, help="DriftScore above this: alarm")
    add("--alarm-max-age-days", type=float, default=30.0, help="ModelAgeDays above this: alarm")
    add("--archive", action="store_true", help="keep the replaced config and models")
    add("--create-if-missing", action="store_true", help="replace: create when absent")
    add("--weight", action="append", default=[], metavar="VARIANT=WEIGHT", help="mode weights")
    add("--no-check-image", action="store_true", help="skip the ECR image check")
    add("--no-wait", action="store_true", help="return once the calls are made")
    add("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait at most")
    add("--poll-seconds", type=float, default=DEFAULT_POLL, help=argparse.SUPPRESS)
    add("--dry-run", action="store_true", help="print every call it would make, make none")
    add("--yes", action="store_true", help="delete: really delete")
    return parser


def spec_from_arguments(
    arguments: argparse.Namespace, parser: argparse.ArgumentParser
) -> DeploySpec:
    """A DeploySpec from parsed options; usage errors exit 2 through `parser.error`."""
    if arguments.model_package and (arguments.image or arguments.model_data):
        parser.error(
            "--model-package names the image and the artefact: leave out --image and --model-data"
        )
    if arguments.model_package and arguments.mode not in ("create", "replace", "add"):
        parser.error("--model-package goes with --mode create, replace or add")
    if arguments.mode in ("create", "replace", "add") and not (
        (arguments.image or arguments.model_package) and arguments.role
    ):
        parser.error(f"--mode {arguments.mode} needs --image and --role (or --model-package)")
    if arguments.mode == "weights" and not arguments.weight:
        parser.error("--mode weights needs at least one --weight VARIANT=WEIGHT")
    if arguments.mode == "add" and not arguments.variant_name:
        parser.error("--mode add needs --variant-name for the new variant")
    if arguments.mode == "delete" and not (arguments.yes or arguments.dry_run):
        parser.error(
            "--mode delete removes the endpoint, its configs, models, autoscaling and alarms: "
            "look first with --dry-run, then pass --yes"
        )
    if arguments.async_output_s3:
        parser.error(
            "--async-output-s3 is not supported: an asynchronous endpoint answers "
            "InvokeEndpointAsync only, and the app calls InvokeEndpoint"
        )
    if arguments.drop_variant and arguments.mode != "replace":
        parser.error("--drop-variant goes with --mode replace")
    if bool(arguments.data_capture_percent) != bool(arguments.data_capture_s3):
        parser.error("--data-capture-percent and --data-capture-s3 go together")
    if (arguments.autoscale_min is None) != (arguments.autoscale_max is None):
        parser.error("--autoscale-min and --autoscale-max go together")
    if arguments.autoscale_min is not None and not (
        1 <= arguments.autoscale_min <= arguments.autoscale_max
    ):
        parser.error("--autoscale-min must be at least 1 and at most --autoscale-max")
    if arguments.serverless_memory and arguments.autoscale_min is not None:
        parser.error("--autoscale-* scales instances; a serverless variant scales by itself")
    if arguments.instance_count is not None and arguments.instance_count < 1:
        parser.error("--instance-count must be at least 1")
    if not 1 <= arguments.traffic_percent <= 100:
        parser.error("--traffic-percent must be between 1 and 100")
    if arguments.metrics_namespace and not arguments.create_alarms:
        parser.error("--metrics-namespace names the quality alarms' figures: add --create-alarms")
    quality = None
    if arguments.metrics_namespace:
        quality = QualityAlarms(
            namespace=arguments.metrics_namespace,
            model_version=arguments.app_model_version,
            min_lift=arguments.alarm_min_lift,
            lift_days=arguments.alarm_lift_days,
            max_drift=arguments.alarm_max_drift,
            max_age_days=arguments.alarm_max_age_days,
        )
    capture = None
    if arguments.data_capture_percent:
        capture = DataCapture(
            arguments.data_capture_percent,
            arguments.data_capture_s3,
            arguments.data_capture_kms_key,
        )
    scaling = None
    if arguments.autoscale_min is not None:
        scaling = Autoscaling(
            arguments.autoscale_min, arguments.autoscale_max, arguments.autoscale_target
        )
    serverless = None
    if arguments.serverless_memory:
        serverless = Serverless(arguments.serverless_memory, arguments.serverless_max_concurrency)
    return DeploySpec(
        endpoint_name=arguments.endpoint_name,
        mode=arguments.mode,
        role_arn=arguments.role,
        image=arguments.image,
        model_data=arguments.model_data,
        model_version=arguments.model_version,
        variant_name=arguments.variant_name,
        drop_variants=tuple(arguments.drop_variant),
        instance_type=arguments.instance_type,
        instance_count=arguments.instance_count,
        initial_weight=arguments.initial_weight,
        serverless=serverless,
        model_data_download_timeout=arguments.model_data_download_timeout,
        container_startup_timeout=arguments.container_startup_timeout,
        subnets=tuple(arguments.subnet),
        security_groups=tuple(arguments.security_group),
        kms_key_id=arguments.kms_key_id,
        env=pairs(arguments.env, "--env", parser),
        tags=pairs(arguments.tag, "--tag", parser),
        data_capture=capture,
        autoscaling=scaling,
        traffic=TrafficShift(
            kind=arguments.traffic,
            percent=arguments.traffic_percent,
            wait_seconds=arguments.traffic_wait_seconds,
            termination_wait_seconds=arguments.termination_wait_seconds,
            maximum_seconds=arguments.max_deployment_seconds,
            small_fleet=arguments.small_fleet,
        ),
        alarms=Alarms(
            names=tuple(arguments.rollback_alarm),
            create=arguments.create_alarms,
            max_5xx_percent=arguments.alarm_5xx_percent,
            min_invocations=arguments.alarm_min_invocations,
            p99_latency_ms=arguments.alarm_p99_ms,
            topic_arn=arguments.alarm_topic_arn,
            quality=quality,
        ),
        archive=arguments.archive,
        create_if_missing=arguments.create_if_missing,
        weights={
            k: _weight(v, parser) for k, v in pairs(arguments.weight, "--weight", parser).items()
        },
        check_image=not arguments.no_check_image,
    )


def pairs(values: list[str], option: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    """KEY=VALUE options as a dict; a value without "=" is a usage error."""
    result = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            parser.error(f"{option} takes KEY=VALUE, got {value!r}")
        result[key] = rest
    return result


def _weight(value: str, parser: argparse.ArgumentParser) -> float:
    try:
        weight = float(value)
    except ValueError:
        parser.error(f"--weight takes VARIANT=NUMBER, got {value!r}")
    if weight < 0:
        parser.error("--weight must not be negative")
    return weight


def main(
    argv: list[str] | None = None,
    session: boto3.session.Session | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the command; `session` lets a test watch every call (AWS settings still from boto3)."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    spec = spec_from_arguments(arguments, parser)
    out = out or sys.stdout
    runner = Runner(Clients(session), dry_run=arguments.dry_run, out=out)
    waiting = Waiting(not arguments.no_wait, arguments.timeout, arguments.poll_seconds)
    try:
        if arguments.model_package:
            spec = from_package(spec, runner, arguments.model_package)
        described = deploy(spec, runner, waiting)
    except CommandError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: what was made is kept and SageMaker carries on; re-run the same "
            "command to resume",
            file=sys.stderr,
        )
        return 1
    if described:
        variants = ", ".join(
            f"{v['VariantName']}={v.get('CurrentWeight', '?')}"
            for v in described.get("ProductionVariants", [])
        )
        print(
            f"endpoint {spec.endpoint_name} is {described['EndpointStatus']} with config "
            f"{described['EndpointConfigName']} (variant weights: {variants})",
            file=out,
        )
    return 0
