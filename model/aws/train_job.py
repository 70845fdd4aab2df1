"""Train as a SageMaker training job: `python -m model.train_job` (see docs/deploy.md).

    python -m model.train_job --train s3://shop-ml/training --output s3://shop-ml/models \\
        --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/recommender:1 \\
        --role arn:aws:iam::123456789012:role/recommender-sagemaker

`--train` is the export's S3 prefix (`recommendations_export --to s3://...` writes there) or a
local folder, uploaded first to `--upload-to`. The job's name comes from the request, the data
and the image's digest (model/aws/training_request.py), so a re-run with nothing new finds the same
job (finished or still running) instead of training again, and one after a failed or stopped
job starts the next under a numbered name. Prints the model artefact's S3 URI on stdout;
progress goes to stderr. Exit status: 0 done, 1 a failed job or an AWS error (one line), 2 bad
usage (including what SageMaker would refuse).
"""

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .deploy.clients import Clients
from .deploy.errors import CommandError, JobFailed, NotFound, explain
from .deploy.plan import Call, Runner
from .deploy.preflight import verify_image, verify_role
from .deploy.waiting import DEFAULT_POLL, poll
from .hyperparameters import HyperparameterError, check_hyperparameters
from .training_request import job_name_for, numbered, training_request, usage_problem

DEFAULT_TIMEOUT = 4 * 3600
FINISHED = {"Completed", "Failed", "Stopped"}
# A job of the name in one of these is the answer; in any other (Failed, Stopping, Stopped,
# Deleting) it is followed by one under the next number.
STANDING = {"InProgress", "Completed"}


def parse_s3(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/prefix; ValueError for anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{uri!r} is not an s3://bucket/prefix URI")
    return parsed.netloc, parsed.path.strip("/")


def data_files(folder: Path) -> list[Path]:
    """The files a training run reads from `folder` (names starting "_" or "." are skipped)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    )


def upload_folder(runner: Runner, folder: Path, uri: str) -> None:
    """Upload the folder's data files under the S3 prefix (multipart above boto3's threshold)."""
    bucket, prefix = parse_s3(uri)
    files = data_files(folder)
    if not files:
        raise NotFound(f"no data files in {folder}: run recommendations_export first")
    verb = "[dry-run] would upload" if runner.dry_run else "uploading"
    runner.note(f"{verb} {len(files)} file(s) from {folder} to {uri}")
    if runner.dry_run:
        return
    s3 = runner.clients.get("s3")
    for path in files:
        key = "/".join(filter(None, [prefix, path.relative_to(folder).as_posix()]))
        try:
            s3.upload_file(str(path), bucket, key)
        except (ClientError, BotoCoreError) as err:
            raise explain(err, "s3:PutObject") from None


def data_fingerprint(runner: Runner, uri: str, folder: Path | None) -> str:
    """A hash of the training data: the local files' contents, or the S3 objects' ETags."""
    digest = hashlib.sha256()
    if folder is not None:
        for path in data_files(folder):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()
    bucket, prefix = parse_s3(uri)
    keys = 0
    token: str | None = None
    while True:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix + "/" if prefix else ""}
        if token:
            params["ContinuationToken"] = token
        page = runner.read("s3", "ListObjectsV2", **params)
        for item in page.get("Contents", []):
            name = item["Key"][len(params["Prefix"]) :]
            if not any(part.startswith(("_", ".")) for part in name.split("/")):
                digest.update(f"{item['Key']} {item['ETag']} {item['Size']}\n".encode())
                keys += 1
        token = page.get("NextContinuationToken")
        if not token:
            break
    if not keys:
        raise NotFound(f"no training data under {uri}: run recommendations_export --to {uri}")
    return digest.hexdigest()


def wait_for_job(
    runner: Runner, name: str, timeout_seconds: float, poll_seconds: float
) -> dict[str, Any]:
    """Wait until the job finishes; JobFailed with SageMaker's FailureReason unless Completed."""
    answer = poll(
        lambda: runner.read("sagemaker", "DescribeTrainingJob", TrainingJobName=name),
        lambda job: f"{job['TrainingJobStatus']} ({job.get('SecondaryStatus', '-')})",
        lambda job: job["TrainingJobStatus"] in FINISHED,
        label=f"training job {name}",
        runner=runner,
        timeout_seconds=timeout_seconds,
        poll_seconds=poll_seconds,
    )
    status = answer["TrainingJobStatus"]
    if status != "Completed":
        reason = answer.get("FailureReason") or "SageMaker gave no FailureReason"
        raise JobFailed(f"training job {name} {status.lower()}: {reason}")
    return answer


def find_or_start(
    runner: Runner, name: str, arguments: argparse.Namespace, hyperparameters: dict[str, str]
) -> str:
    """The job for `name`: the first of name, name-2, ... that runs, completed, or is new."""
    number = 0
    while True:
        number += 1
        candidate = numbered(name, number)
        existing = runner.read_or_none(
            "sagemaker", "DescribeTrainingJob", TrainingJobName=candidate
        )
        if existing is None:
            start(runner, candidate, arguments, hyperparameters)
            return candidate
        status = existing["TrainingJobStatus"]
        if status in STANDING:
            runner.note(f"training job {candidate} exists ({status}): not starting another")
            return candidate
        secondary = existing.get("SecondaryStatus")
        how = status.lower() + (f" ({secondary})" if secondary and secondary != status else "")
        reason = existing.get("FailureReason") or "SageMaker gave no FailureReason"
        runner.note(
            f"training job {candidate} {how}: {reason}; trying {numbered(name, number + 1)}"
        )


def start(
    runner: Runner, name: str, arguments: argparse.Namespace, hyperparameters: dict[str, str]
) -> None:
    """Check the role, upload a local export, and call CreateTrainingJob."""
    verify_role(runner, arguments.role)
    if arguments.folder is not None:
        upload_folder(runner, arguments.folder, arguments.upload_to)
    request = training_request(arguments, name, hyperparameters)
    runner.call(Call("sagemaker", "CreateTrainingJob", request, "train on the export"))


def run(arguments: argparse.Namespace, runner: Runner, out: TextIO) -> int:
    """Upload if asked, start (or find) the job, wait, print the artefact's URI."""
    arguments.folder = None
    if arguments.train.startswith("s3://"):
        arguments.train_uri = arguments.train
    else:
        arguments.folder = Path(arguments.train)
        if not arguments.folder.is_dir():
            raise NotFound(f"{arguments.folder} is not a folder (nor an s3:// URI)")
        arguments.train_uri = arguments.upload_to
    hyperparameters = {k: str(v) for k, v in sorted(arguments.hyperparameters.items())}
    # The digest, not the tag: an image pushed again under the same tag trains again.
    image_identity = verify_image(runner, arguments.image) or arguments.image
    name = arguments.job_name or job_name_for(
        arguments,
        hyperparameters,
        data_fingerprint(runner, arguments.train_uri, arguments.folder),
        image_identity,
    )
    name = find_or_start(runner, name, arguments, hyperparameters)
    if runner.dry_run:
        runner.note(f"[dry-run] would wait for training job {name}")
        return 0
    if arguments.no_wait:
        print(name, file=out)
        return 0
    job = wait_for_job(runner, name, arguments.timeout, arguments.poll_seconds)
    print(job["ModelArtifacts"]["S3ModelArtifacts"], file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m model.train_job", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--train", required=True, help="s3://bucket/prefix of the export, or a local folder")
    add("--upload-to", help="s3://bucket/prefix to upload a local --train folder to")
    add("--output", required=True, help="s3://bucket/prefix for the model artefact")
    add("--image", required=True, help="training image URI (ECR)")
    add("--role", required=True, help="ARN of the SageMaker execution role")
    add("--instance-type", default="ml.m5.large")
    add("--instance-count", type=int, default=1)
    add("--volume-gb", type=int, default=10)
    add("--max-runtime", type=int, default=3600, help="seconds before SageMaker stops the job")
    add("--spot", action="store_true", help="managed Spot training")
    add("--max-wait", type=int, help="with --spot: seconds for Spot capacity plus the run")
    add("--checkpoint-s3", help="with --spot: default <output>/checkpoints/<job-name>/")
    add("--hyperparameter", action="append", default=[], metavar="KEY=VALUE")
    add("--job-name", help="default: recommender-<hash of the request, data and image>")
    add("--base-job-name", default="recommender")
    add("--tag", action="append", default=[], metavar="KEY=VALUE")
    add("--kms-key-id", help="KMS key for the job's output (the model artefact)")
    add("--volume-kms-key-id", help="KMS key for the training volume (not on NVMe types)")
    add("--subnet", action="append", default=[])
    add("--security-group", action="append", default=[])
    add("--no-wait", action="store_true", help="print the job name and return at once")
    add("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait at most")
    add("--poll-seconds", type=float, default=DEFAULT_POLL, help=argparse.SUPPRESS)
    add("--dry-run", action="store_true", help="print the calls it would make, make none")
    return parser


def _pairs(values: list[str], option: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    result = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            parser.error(f"{option} takes KEY=VALUE, got {value!r}")
        result[key] = rest
    return result


def main(
    argv: list[str] | None = None,
    session: boto3.session.Session | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the command; `session` lets a test watch every call (AWS settings from boto3)."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    arguments.hyperparameters = _pairs(arguments.hyperparameter, "--hyperparameter", parser)
    arguments.tags = _pairs(arguments.tag, "--tag", parser)
    for option in ("output", "upload_to"):
        value = getattr(arguments, option)
        if value is not None and not value.startswith("s3://"):
            parser.error(f"--{option.replace('_', '-')} must be an s3://bucket/prefix URI")
    if not arguments.train.startswith("s3://") and not arguments.upload_to:
        parser.error("a local --train folder needs --upload-to s3://bucket/prefix")
    problem = usage_problem(arguments)
    if problem:
        parser.error(problem)
    if arguments.hyperparameters:
        # model.train's options, known here without importing the trainer's numerical code
        # when no hyperparameter is given.
        from ..training.run import option_names

        try:
            check_hyperparameters(arguments.hyperparameters, option_names())
        except HyperparameterError as err:
            parser.error(f"--hyperparameter: {err}")
    out = out or sys.stdout
    runner = Runner(Clients(session), dry_run=arguments.dry_run, out=sys.stderr)
    try:
        return run(arguments, runner, out)
    except CommandError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: the training job (if started) carries on; re-run the same command "
            "to wait for it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
