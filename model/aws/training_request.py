"""CreateTrainingJob's request, the job's name, and the service's rules checked before the call.

The default name is a hash of the whole request but its name and tags, of the training data and
of the image's digest: anything that changes what is trained (a new export, a re-pushed image, a
bigger volume, Spot) changes the name, and a re-run with nothing new finds the job it made.
Tags are left out because they change nothing in the job's result, and the service lets them be
changed on the job afterwards (AddTags). A job of that name that failed or was stopped is
followed by one under the next number: `<name>-2`, `<name>-3`, ...
"""

import argparse
import hashlib
import json
import re
from typing import Any

from .deploy.rules import PAGES, has_local_storage
from .deploy.spec import MAX_NAME, resource_name

# CreateTrainingJob's TrainingJobName: 1-63 characters, this pattern (also in botocore's model,
# which moto does not enforce). https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html#sagemaker-CreateTrainingJob-request-TrainingJobName
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# StoppingCondition: MaxRuntimeInSeconds "The maximum value is 28 days"; MaxWaitTimeInSeconds
# "must be equal to or greater than MaxRuntimeInSeconds".
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html
MAX_RUNTIME_SECONDS = 28 * 24 * 3600
# How the name of a job that has yet to be named appears in what is hashed.
_UNNAMED = "{job-name}"


def folder_uri(uri: str) -> str:
    """`uri` as an S3 folder, ending in "/".

    SageMaker trains on every key that starts with an S3Prefix channel's S3Uri: without the "/",
    s3://b/training also takes s3://b/training-old/.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html
    """
    return uri.rstrip("/") + "/"


def checkpoint_uri(arguments: argparse.Namespace, job_name: str) -> str:
    """Where a Spot job's checkpoints go: --checkpoint-s3, else <output>/checkpoints/<job>/."""
    if arguments.checkpoint_s3:
        return folder_uri(arguments.checkpoint_s3)
    return folder_uri(f"{arguments.output.rstrip('/')}/checkpoints/{job_name}")


def usage_problem(arguments: argparse.Namespace) -> str | None:
    """What SageMaker would refuse in the options, as a usage error; None when all is well."""
    if arguments.job_name and not JOB_NAME.match(arguments.job_name):
        return (
            f"--job-name {arguments.job_name!r}: SageMaker takes 1-63 letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )
    if not 1 <= arguments.max_runtime <= MAX_RUNTIME_SECONDS:
        return f"--max-runtime must be 1 to {MAX_RUNTIME_SECONDS} seconds (SageMaker's 28 days)"
    if arguments.volume_kms_key_id and has_local_storage(arguments.instance_type):
        # ResourceConfig.VolumeKmsKeyId: "You can't request a VolumeKmsKeyId when using an
        # instance type with local storage."
        return (
            f"--volume-kms-key-id: {arguments.instance_type} has local NVMe storage, which its "
            f"own hardware encrypts; SageMaker refuses a volume key with it ({PAGES['instance-storage']})"
        )
    if not arguments.spot:
        if arguments.max_wait is not None or arguments.checkpoint_s3:
            return "--max-wait and --checkpoint-s3 are for Spot training: add --spot"
        return None
    if arguments.max_wait is not None and arguments.max_wait < arguments.max_runtime:
        return (
            f"--max-wait {arguments.max_wait} is below --max-runtime {arguments.max_runtime}: "
            "SageMaker needs the Spot wait to cover the run"
        )
    if arguments.checkpoint_s3 and not arguments.checkpoint_s3.startswith("s3://"):
        return "--checkpoint-s3 must be an s3://bucket/prefix URI"
    return None


def max_wait(arguments: argparse.Namespace) -> int:
    """MaxWaitTimeInSeconds: --max-wait, else twice the run time (time to find Spot capacity)."""
    if arguments.max_wait is not None:
        return int(arguments.max_wait)
    return 2 * int(arguments.max_runtime)


def training_request(
    arguments: argparse.Namespace, job_name: str, hyperparameters: dict[str, str]
) -> dict[str, Any]:
    """CreateTrainingJob's parameters."""
    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": arguments.image, "TrainingInputMode": "File"},
        "RoleArn": arguments.role,
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": folder_uri(arguments.train_uri),
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": arguments.output},
        "ResourceConfig": {
            "InstanceType": arguments.instance_type,
            "InstanceCount": arguments.instance_count,
            "VolumeSizeInGB": arguments.volume_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": arguments.max_runtime},
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(arguments.tags.items())],
    }
    if arguments.spot:
        request["EnableManagedSpotTraining"] = True
        request["StoppingCondition"]["MaxWaitTimeInSeconds"] = max_wait(arguments)
        request["CheckpointConfig"] = {"S3Uri": checkpoint_uri(arguments, job_name)}
    if arguments.kms_key_id:
        request["OutputDataConfig"]["KmsKeyId"] = arguments.kms_key_id
    if arguments.volume_kms_key_id:
        request["ResourceConfig"]["VolumeKmsKeyId"] = arguments.volume_kms_key_id
    if arguments.subnet or arguments.security_group:
        request["VpcConfig"] = {
            "Subnets": arguments.subnet,
            "SecurityGroupIds": arguments.security_group,
        }
    return request


def job_name_for(
    arguments: argparse.Namespace,
    hyperparameters: dict[str, str],
    data_fingerprint: str,
    image_identity: str,
) -> str:
    """The default name: `<base>-<hash of the request, the data and the image's digest>`."""
    request = training_request(arguments, _UNNAMED, hyperparameters)
    del request["TrainingJobName"], request["Tags"]
    what = json.dumps([request, data_fingerprint, image_identity], sort_keys=True)
    return resource_name(arguments.base_job_name, hashlib.sha256(what.encode()).hexdigest()[:16])


def numbered(name: str, number: int) -> str:
    """The name of the `number`th job for `name` (the first is `name` itself), within 63 chars."""
    if number == 1:
        return name
    suffix = f"-{number}"
    return name[: MAX_NAME - len(suffix)].rstrip("-") + suffix
