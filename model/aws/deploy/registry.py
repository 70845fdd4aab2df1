"""The SageMaker Model Registry: one model package group per endpoint, a package per trained model.

A package carries the image and the artefact (InferenceSpecification), the training job's
evaluation table (every candidate's row, popularity and both fallback rows) and its approval
status. The table goes twice: whole, as a JSON report in S3 that ModelMetrics points at, and
one row per entry in CustomerMetadataProperties, which the console and DescribeModelPackage show.
The service's limits on those entries are checked here, because botocore's model carries them
as patterns in Java's dialect that the client never checks.
"""

import dataclasses
import json
import re
from typing import Any

from ...evaluation.fallback_baseline import CO_PURCHASE_BLEND, DECAYED_POPULARITY
from .errors import CommandError
from .plan import Call, Runner
from .spec import DeploySpec

PAGES = {
    "package": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html",
    "update": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html",
    "group": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackageGroup.html",
    "metrics": "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_MetricsSource.html",
}
PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
# CustomerMetadataProperties: at most 50 entries, keys 1-128 and values 1-256 characters of
# letters, numbers, spaces and _.:/=+-@ (API_CreateModelPackage, CustomerMetadataProperties).
METADATA_ENTRIES = 50
METADATA_KEY_CHARS = 128
METADATA_VALUE_CHARS = 256
_METADATA_REFUSED = re.compile(r"[^A-Za-z0-9 _.:/=+\-@]")
# ApprovalDescription: at most 1024 characters (API_UpdateModelPackage).
APPROVAL_DESCRIPTION_CHARS = 1024
METRICS_CONTENT_TYPE = "application/json"
# How many of a group's newest packages a registration looks through for the same artefact.
REUSE_LOOKBACK = 20


class NotApproved(CommandError):
    """A model package that the gate has not approved: it is not deployed."""


def metadata_text(text: str, limit: int) -> str:
    """`text` in the characters CustomerMetadataProperties accepts, cut to `limit`."""
    cleaned = _METADATA_REFUSED.sub("-", text).strip() or "-"
    return cleaned[:limit]


def metric_properties(metrics: dict[str, Any]) -> dict[str, str]:
    """One CustomerMetadataProperties entry per evaluated row, and the model's own facts.

    `metrics` is the training job's metrics.json (training/run.py). Rows beyond the service's 50
    entries are left to the JSON report in S3 (the chosen model and the fallback rows first).
    """
    facts = {
        "model_version": metrics.get("model_version", ""),
        "model": metrics.get("model", ""),
        "chosen": metrics.get("selection", {}).get("chosen_label", ""),
        "trained_until": str(metrics.get("trained_until", "")),
    }
    properties = {k: metadata_text(str(v), METADATA_VALUE_CHARS) for k, v in facts.items() if v}
    rows = metrics.get("evaluation", {})
    first = [name for name in ("model", DECAYED_POPULARITY, CO_PURCHASE_BLEND) if name in rows]
    for name in first + sorted(set(rows) - set(first)):
        if len(properties) >= METADATA_ENTRIES:
            break
        s = rows[name]
        key = metadata_text(f"eval:{name}", METADATA_KEY_CHARS)
        properties[key] = metadata_text(
            f"ndcg={s['ndcg']:.4f} precision={s['precision']:.4f} recall={s['recall']:.4f} "
            f"coverage={s.get('coverage', 0.0):.4f} users={s['users']}",
            METADATA_VALUE_CHARS,
        )
    return properties


def ensure_group(runner: Runner, group: str, endpoint_name: str) -> None:
    """CreateModelPackageGroup unless the group exists."""
    if runner.read_or_none("sagemaker", "DescribeModelPackageGroup", ModelPackageGroupName=group):
        return
    runner.call(
        Call(
            "sagemaker",
            "CreateModelPackageGroup",
            {
                "ModelPackageGroupName": group,
                "ModelPackageGroupDescription": f"models trained for endpoint {endpoint_name}",
                "Tags": [{"Key": "recommender-endpoint", "Value": endpoint_name}],
            },
            "one group per endpoint",
        )
    )


def package_request(
    group: str, image: str, model_data: str, metrics: dict[str, Any], report_uri: str | None
) -> dict[str, Any]:
    """CreateModelPackage's parameters: a versioned package awaiting the gate.

    No Tags: a package in a group takes the group's tags, and the service refuses Tags with
    ModelPackageGroupName (API_CreateModelPackage, Tags).
    """
    request: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": (
            f"{metrics.get('model', 'model')} {metrics.get('model_version', '')}".strip()
        ),
        "InferenceSpecification": {
            "Containers": [{"Image": image, "ModelDataUrl": model_data}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        "ModelApprovalStatus": PENDING,
        "CustomerMetadataProperties": metric_properties(metrics),
    }
    if report_uri:
        request["ModelMetrics"] = {
            "ModelQuality": {
                "Statistics": {"ContentType": METRICS_CONTENT_TYPE, "S3Uri": report_uri}
            }
        }
    return request


def register(
    runner: Runner,
    group: str,
    endpoint_name: str,
    image: str,
    model_data: str,
    metrics: dict[str, Any],
    report_uri: str | None,
) -> str:
    """Make the group if missing and a PendingManualApproval package; its ARN ("" when dry)."""
    ensure_group(runner, group, endpoint_name)
    earlier = registered_package(runner, group, model_data)
    if earlier is not None:
        runner.note(
            f"{model_data} is registered already as {earlier['ModelPackageArn']} "
            f"({earlier.get('ModelApprovalStatus')}): not registering it again"
        )
        return str(earlier["ModelPackageArn"])
    request = package_request(group, image, model_data, metrics, report_uri)
    answer = runner.call(Call("sagemaker", "CreateModelPackage", request, "register for the gate"))
    return answer.get("ModelPackageArn", "")


def registered_package(runner: Runner, group: str, model_data: str) -> dict[str, Any] | None:
    """The group's newest package of `model_data`, among its last REUSE_LOOKBACK (or None).

    A re-run of `make deploy` with nothing new to train finds the same artefact: it gets the
    same package, and the gate's earlier decision, instead of a second package.
    """
    if runner.dry_run and not runner.read_or_none(
        "sagemaker", "DescribeModelPackageGroup", ModelPackageGroupName=group
    ):
        return None
    answer = runner.read(
        "sagemaker",
        "ListModelPackages",
        ModelPackageGroupName=group,
        ModelPackageType="Versioned",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=REUSE_LOOKBACK,
    )
    for summary in answer.get("ModelPackageSummaryList", []):
        package = describe_package(runner, summary["ModelPackageArn"])
        containers = package.get("InferenceSpecification", {}).get("Containers", [])
        if containers and containers[0].get("ModelDataUrl") == model_data:
            return package
    return None


def describe_package(runner: Runner, arn: str) -> dict[str, Any]:
    """DescribeModelPackage, as a CommandError when there is no such package."""
    package = runner.read_or_none("sagemaker", "DescribeModelPackage", ModelPackageName=arn)
    if package is None:
        raise CommandError(f"model package {arn} does not exist")
    return package


def approval_description(reason: str, table: str) -> str:
    """The reason, then the table, on one line and within the service's 1024 characters."""
    rows = " | ".join(" ".join(line.split()) for line in table.splitlines() if line.strip())
    text = f"{reason} || {rows}"
    if len(text) <= APPROVAL_DESCRIPTION_CHARS:
        return text
    return text[: APPROVAL_DESCRIPTION_CHARS - 3] + "..."


def decide(runner: Runner, arn: str, approved: bool, description: str) -> None:
    """UpdateModelPackage: Approved or Rejected, with the reason and table."""
    if len(description) > APPROVAL_DESCRIPTION_CHARS:
        raise CommandError(
            f"ApprovalDescription is {len(description)} characters, at most "
            f"{APPROVAL_DESCRIPTION_CHARS} [{PAGES['update']}]"
        )
    runner.call(
        Call(
            "sagemaker",
            "UpdateModelPackage",
            {
                "ModelPackageArn": arn,
                "ModelApprovalStatus": APPROVED if approved else REJECTED,
                "ApprovalDescription": description,
            },
            "the gate's decision",
        )
    )


def metrics_report(metrics: dict[str, Any]) -> bytes:
    """The JSON report ModelMetrics points at: the whole metrics.json."""
    return json.dumps(metrics, indent=2, sort_keys=True).encode()


def from_package(spec: DeploySpec, runner: Runner, arn: str) -> DeploySpec:
    """`spec` with the image and artefact of an Approved package; refused before any write.

    SageMaker itself deploys a versioned package only when it is Approved
    (API_CreateModelPackage, ModelApprovalStatus); this tool deploys the package's image and
    artefact, so it holds itself to the same rule.
    """
    package = describe_package(runner, arn)
    status = package.get("ModelApprovalStatus")
    if status != APPROVED:
        raise NotApproved(
            f"model package {arn} is {status}, not {APPROVED}: run python -m model.promote "
            f"on it first; nothing was changed [{PAGES['package']}]"
        )
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    if len(containers) != 1 or not containers[0].get("ModelDataUrl"):
        raise CommandError(f"model package {arn} must hold one container with a ModelDataUrl")
    container = containers[0]
    alarms = spec.alarms
    quality = alarms.quality
    reported = package.get("CustomerMetadataProperties", {}).get("model_version")
    if quality and not quality.model_version and reported:
        # The version model.train wrote into model.json: the one the app reports.
        alarms = dataclasses.replace(
            alarms, quality=dataclasses.replace(quality, model_version=reported)
        )
    return dataclasses.replace(
        spec, image=container["Image"], model_data=container["ModelDataUrl"], alarms=alarms
    )
