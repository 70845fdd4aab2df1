"""Register a trained model for the gate: `python -m model.register` (see docs/deploy.md).

    python -m model.register --endpoint-name shop-recommender \\
        --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/recommender:1 \\
        --model-data s3://shop-ml/models/recommender-.../output/model.tar.gz

Makes the endpoint's model package group if it is missing, writes the training job's
metrics.json (read from the artefact) next to the artefact as the package's quality report, and
creates a model package awaiting approval. Prints the package's ARN on stdout. Exit status: 0
done, 1 an AWS error (one line), 2 bad usage.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .artefacts import fetch_artefact, read_member, scratch
from .deploy.clients import Clients
from .deploy.errors import CommandError, explain
from .deploy.plan import Runner
from .deploy.registry import metrics_report, register
from .deploy.spec import MAX_NAME, NAME_PART

METRICS_FILE = "metrics.json"
REPORT_NAME = "metrics-report.json"


def report_uri(model_data: str) -> str:
    """Where the quality report goes: beside the artefact."""
    parsed = urlparse(model_data)
    folder = parsed.path.rsplit("/", 1)[0]
    return f"s3://{parsed.netloc}{folder}/{REPORT_NAME}"


def upload_report(runner: Runner, uri: str, body: bytes) -> None:
    """PutObject of the report (only printed in a dry run)."""
    verb = "[dry-run] would upload" if runner.dry_run else "uploading"
    runner.note(f"{verb} the quality report to {uri}")
    if runner.dry_run:
        return
    parsed = urlparse(uri)
    try:
        runner.clients.get("s3").put_object(
            Bucket=parsed.netloc,
            Key=parsed.path.lstrip("/"),
            Body=body,
            ContentType="application/json",
        )
    except (ClientError, BotoCoreError) as err:
        raise explain(err, "s3:PutObject") from None


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m model.register", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--endpoint-name", required=True, help="the endpoint the model is meant for")
    add("--group", help="model package group (default: the endpoint's name)")
    add("--image", required=True, help="inference image URI (ECR)")
    add("--model-data", required=True, help="s3://.../model.tar.gz from the training job")
    add("--dry-run", action="store_true", help="print the calls it would make, make none")
    return parser


def main(
    argv: list[str] | None = None,
    session: boto3.session.Session | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the command; `session` lets a test watch every call (AWS settings from boto3)."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    group = arguments.group or arguments.endpoint_name
    # ModelPackageGroupName: 1-63 letters, digits and hyphens (API_CreateModelPackageGroup).
    if len(group) > MAX_NAME or not NAME_PART.match(group):
        parser.error(f"model package group {group!r}: at most 63 letters, digits and hyphens")
    if not arguments.model_data.startswith("s3://"):
        parser.error("--model-data must be an s3:// URI: SageMaker reads the package from S3")
    out = out or sys.stdout
    runner = Runner(Clients(session), dry_run=arguments.dry_run, out=sys.stderr)
    try:
        with scratch() as folder:
            artefact = fetch_artefact(runner, arguments.model_data, Path(folder))
            raw = read_member(artefact, METRICS_FILE)
        if raw is None:
            raise CommandError(
                f"{arguments.model_data} holds no {METRICS_FILE}: train with model.train_job "
                "(without --no-evaluate) so the package carries its evaluation"
            )
        metrics = json.loads(raw)
        uri = report_uri(arguments.model_data)
        upload_report(runner, uri, metrics_report(metrics))
        arn = register(
            runner,
            group,
            arguments.endpoint_name,
            arguments.image,
            arguments.model_data,
            metrics,
            uri,
        )
    except CommandError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(arn or f"[dry-run] a new package in {group}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
