"""`python -m model.train_job` against moto's server over HTTP (boto3 configured by AWS_ENDPOINT_URL).

moto finishes every training job at once as `Completed`; the wait for a failed job is covered with
botocore's Stubber standing for SageMaker (it checks the canned answer against the real response
shape), and a re-run after a failed or stopped job by setting that job's status on moto's backend,
which runs in this process. moto checks none of SageMaker's documented limits on the request: the
tests of those assert that the command refuses before any call.
"""

import io
import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from model.aws.deploy.errors import JobFailed
from model.aws.train_job import main, wait_for_job
from tests.support.sagemaker_on_moto import ACCOUNT, REGION, runner_for

pytestmark = [pytest.mark.integration, pytest.mark.cloud]


@pytest.fixture
def export_folder(tmp_path):
    folder = tmp_path / "training"
    folder.mkdir()
    rows = [{"user_id": "u1", "item_id": "7", "weight": 1.0, "timestamp": 1}]
    (folder / "interactions-0001.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "_watermark.json").write_text("{}")
    return folder


def run(aws, *argv: str, session=None) -> tuple[int, str]:
    out = io.StringIO()
    try:
        status = main(list(argv), session=session or aws.session(), out=out)
    except SystemExit as exit_:
        status = exit_.code
    return status, out.getvalue().strip()


def common(aws) -> list[str]:
    return [
        "--output", f"s3://{aws.bucket}/models",
        "--image", aws.image,
        "--role", aws.role_arn,
        "--poll-seconds", "0.01",
    ]  # fmt: skip


def test_a_local_export_is_uploaded_trained_and_the_artefact_uri_printed(aws, export_folder):
    status, out = run(
        aws, "--train", str(export_folder), "--upload-to", f"s3://{aws.bucket}/training",
        *common(aws), "--hyperparameter", "factors=32", "--instance-type", "ml.c5.xlarge",
    )  # fmt: skip
    assert status == 0
    job_name = out.split("/")[-3]
    assert out == f"s3://{aws.bucket}/models/{job_name}/output/model.tar.gz"
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert "training/interactions-0001.jsonl" in keys
    assert "training/_watermark.json" not in keys  # the trainer skips it; so does the upload
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=job_name)
    assert job["HyperParameters"] == {"factors": "32"}
    assert job["AlgorithmSpecification"]["TrainingImage"] == aws.image
    assert job["RoleArn"] == aws.role_arn
    assert job["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    source = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert (job["InputDataConfig"][0]["ChannelName"], source["S3Uri"]) == (
        "train",
        f"s3://{aws.bucket}/training/",
    )


def test_a_rerun_on_the_same_export_finds_the_job_and_new_data_trains_again(aws):
    s3 = aws.client("s3")
    s3.put_object(Bucket=aws.bucket, Key="shop/training/interactions-1.jsonl", Body=b"{}\n")
    s3.put_object(Bucket=aws.bucket, Key="shop/training/_watermark.json", Body=b"{}")
    train = ["--train", f"s3://{aws.bucket}/shop/training", *common(aws)]
    first_status, first = run(aws, *train)
    aws.calls.clear()
    second_status, second = run(aws, *train)
    assert (first_status, second_status) == (0, 0)
    assert first == second
    assert "sagemaker:CreateTrainingJob" not in aws.calls

    s3.put_object(Bucket=aws.bucket, Key="shop/training/interactions-2.jsonl", Body=b"{}\n")
    status, third = run(aws, *train)
    assert status == 0 and third != first
    # The watermark alone changing is not new data.
    s3.put_object(Bucket=aws.bucket, Key="shop/training/_watermark.json", Body=b'{"x": 1}')
    assert run(aws, *train)[1] == third


def test_no_wait_prints_the_job_name_at_once(aws, export_folder):
    upload = ["--upload-to", f"s3://{aws.bucket}/t"]
    status, out = run(aws, "--train", str(export_folder), *upload, *common(aws), "--no-wait")
    assert status == 0
    assert out.startswith("recommender-") and "/" not in out
    assert "sagemaker:DescribeTrainingJob" in aws.calls  # the lookup for an existing job only
    assert aws.calls.count("sagemaker:DescribeTrainingJob") == 1


def test_an_empty_export_prefix_is_one_line(aws, capsys):
    status, _ = run(aws, "--train", f"s3://{aws.bucket}/nothing", *common(aws))
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert err == (
        f"error: no training data under s3://{aws.bucket}/nothing: run recommendations_export "
        f"--to s3://{aws.bucket}/nothing"
    )


def test_a_missing_role_is_one_line_and_no_job_starts(aws, export_folder, capsys):
    args = ["--train", str(export_folder), "--upload-to", f"s3://{aws.bucket}/t", *common(aws)]
    args[args.index(aws.role_arn)] = "arn:aws:iam::123456789012:role/missing"
    status, _ = run(aws, *args)
    assert status == 1
    assert "role arn:aws:iam::123456789012:role/missing does not exist" in capsys.readouterr().err
    assert "sagemaker:CreateTrainingJob" not in aws.calls


def test_dry_run_prints_the_training_request_and_starts_nothing(aws, export_folder, capsys):
    args = ["--train", str(export_folder), "--upload-to", f"s3://{aws.bucket}/dry", *common(aws)]
    status, out = run(aws, *args, "--dry-run")
    err = capsys.readouterr().err
    assert status == 0 and out == ""
    assert "[dry-run] would upload 1 file(s)" in err
    assert "[dry-run] would call sagemaker:CreateTrainingJob" in err
    assert "sagemaker:CreateTrainingJob" not in aws.calls
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=aws.bucket, Prefix="dry")


def test_usage_errors_exit_2(aws, export_folder):
    assert run(aws, "--train", str(export_folder), *common(aws))[0] == 2  # no --upload-to
    args = ["--train", f"s3://{aws.bucket}/t", *common(aws), "--hyperparameter", "oops"]
    assert run(aws, *args)[0] == 2


def test_a_failed_job_raises_with_sagemakers_failure_reason(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.session.Session(region_name="eu-west-1").client("sagemaker")
    job = {
        "TrainingJobName": "recommender-1",
        "TrainingJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/recommender-1",
        "ModelArtifacts": {"S3ModelArtifacts": ""},
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"VolumeSizeInGB": 10},
        "StoppingCondition": {},
        "CreationTime": "2026-01-01T00:00:00Z",
    }
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_training_job",
            {**job, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"},
        )
        stubber.add_response(
            "describe_training_job",
            {
                **job,
                "TrainingJobStatus": "Failed",
                "SecondaryStatus": "Failed",
                "FailureReason": "AlgorithmError: no interactions in /opt/ml/input/data/train",
            },
        )
        with pytest.raises(JobFailed) as failed:
            wait_for_job(runner_for(client), "recommender-1", 60, 0)
    assert str(failed.value) == (
        "training job recommender-1 failed: AlgorithmError: no interactions in "
        "/opt/ml/input/data/train"
    )


def test_a_failed_job_is_one_line_with_the_reason_and_exit_1(aws, export_folder, capsys):
    # moto finishes every job as Completed; after the real CreateTrainingJob this hook answers
    # the wait's DescribeTrainingJob as SageMaker does for a job whose container failed.
    session = aws.session()

    def failed_job(model, context, **_):
        if "sagemaker:CreateTrainingJob" not in aws.calls:
            return None
        answer = {
            "TrainingJobName": "x",
            "TrainingJobStatus": "Failed",
            "SecondaryStatus": "Failed",
            "FailureReason": "AlgorithmError: ExecuteUserScriptError: exit code 1",
        }
        return AWSResponse(None, 200, {}, None), answer

    session.events.register("before-call.sagemaker.DescribeTrainingJob", failed_job)
    args = ["--train", str(export_folder), "--upload-to", f"s3://{aws.bucket}/f", *common(aws)]
    status, out = run(aws, *args, session=session)
    err = capsys.readouterr().err.strip().splitlines()
    assert (status, out) == (1, "")
    assert err[-1].endswith("failed: AlgorithmError: ExecuteUserScriptError: exit code 1")
    assert not any("Traceback" in line for line in err)


# --- re-runs: what names a job, and what happens after a failed one ------------------------------


def end_job_on_moto(name: str, status: str, reason: str | None) -> None:
    """Leave moto's job `name` as SageMaker leaves a job that failed or was stopped.

    moto has no call that fails or stops a training job (it finishes each one as Completed at
    once), and its server runs in this process, so the job's status is set on its backend.
    """
    from moto.sagemaker.models import sagemaker_backends

    job = sagemaker_backends[ACCOUNT][REGION].training_jobs[name]
    job.training_job_status = job.secondary_status = status
    job.failure_reason = reason


def s3_export(aws, prefix: str = "shop/training") -> list[str]:
    aws.client("s3").put_object(
        Bucket=aws.bucket, Key=f"{prefix}/interactions-1.jsonl", Body=b"{}\n"
    )
    return ["--train", f"s3://{aws.bucket}/{prefix}"]


def job_of(artefact: str) -> str:
    return artefact.split("/")[-3]


def test_a_failed_job_is_followed_by_one_under_the_next_number_and_says_why(aws, capsys):
    train = [*s3_export(aws), *common(aws)]
    status, first = run(aws, *train)
    name = job_of(first)
    end_job_on_moto(name, "Failed", "AlgorithmError: out of memory")
    capsys.readouterr()

    status, second = run(aws, *train)
    assert status == 0
    assert job_of(second) == f"{name}-2"
    assert (
        f"training job {name} failed: AlgorithmError: out of memory; trying {name}-2"
        in capsys.readouterr().err
    )
    end_job_on_moto(f"{name}-2", "Stopped", None)
    assert job_of(run(aws, *train)[1]) == f"{name}-3"
    # The next re-run finds the job that completed and starts nothing.
    aws.calls.clear()
    assert job_of(run(aws, *train)[1]) == f"{name}-3"
    assert "sagemaker:CreateTrainingJob" not in aws.calls


def test_a_numbered_name_stays_within_sagemakers_63_characters(aws):
    base = "b" * 50
    train = [*s3_export(aws), *common(aws), "--base-job-name", base]
    name = job_of(run(aws, *train)[1])
    assert len(name) == 63
    end_job_on_moto(name, "Failed", "x")
    again = job_of(run(aws, *train)[1])
    assert len(again) <= 63 and again.endswith("-2") and again != name


def test_an_image_pushed_again_under_the_same_tag_trains_again(aws):
    train = [*s3_export(aws), *common(aws)]
    first = run(aws, *train)[1]
    repository = aws.image.split("/", 1)[1].split(":")[0]
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "1" * 64},
        # moto's digest hashes the layers' digests (ECR's hashes the manifest): a new layer.
        "layers": [{"digest": "sha256:" + "2" * 64}],
    }
    aws.client("ecr").put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag="1"
    )
    status, second = run(aws, *train)
    assert status == 0 and job_of(second) != job_of(first)


@pytest.mark.parametrize(
    "change",
    [
        ["--volume-gb", "30"],
        ["--max-runtime", "7200"],
        ["--kms-key-id", "arn:aws:kms:eu-west-1:123456789012:key/1"],
        ["--volume-kms-key-id", "arn:aws:kms:eu-west-1:123456789012:key/2"],
        ["--spot"],
    ],
)
def test_any_change_to_the_request_trains_again(aws, change):
    train = [*s3_export(aws), *common(aws)]
    first = run(aws, *train)[1]
    status, second = run(aws, *train, *change)
    assert status == 0 and job_of(second) != job_of(first)


def test_tags_alone_do_not_train_again(aws):
    train = [*s3_export(aws), *common(aws)]
    first = run(aws, *train, "--tag", "team=ml")[1]
    assert run(aws, *train, "--tag", "team=recommendations")[1] == first


# --- the request itself ---------------------------------------------------------------------------


def test_the_training_channel_is_the_prefix_as_a_folder(aws):
    # SageMaker takes every key that starts with S3Uri: without the "/", training-old/ too.
    s3 = aws.client("s3")
    s3.put_object(Bucket=aws.bucket, Key="training-old/interactions-9.jsonl", Body=b"{}\n")
    train = s3_export(aws, "training")
    artefact = run(aws, *train, *common(aws))[1]
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=job_of(artefact))
    source = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert source["S3Uri"] == f"s3://{aws.bucket}/training/"


@pytest.mark.parametrize(
    "hyperparameter",
    ["model_dir=/elsewhere", "model-dir=/elsewhere", "train=/elsewhere", "tra=/elsewhere",
     "train=x=true", "model_d=/elsewhere"],
)  # fmt: skip
def test_hyperparameters_that_reach_the_training_paths_are_refused_before_any_call(
    aws, hyperparameter, capsys
):
    status, _ = run(aws, *s3_export(aws), *common(aws), "--hyperparameter", hyperparameter)
    assert status == 2
    assert "--hyperparameter" in capsys.readouterr().err
    assert aws.calls == []


@pytest.mark.parametrize(
    ("hyperparameters", "limit"),
    [
        ([f"k{i}=1" for i in range(101)], "at most 100"),
        ([f"{'k' * 257}=1"], "256"),
        ([f"factors={'1' * 2501}"], "2500"),
    ],
)
def test_hyperparameters_past_sagemakers_limits_are_refused_before_any_call(
    aws, hyperparameters, limit, capsys
):
    options = [arg for pair in hyperparameters for arg in ("--hyperparameter", pair)]
    status, _ = run(aws, *s3_export(aws), *common(aws), *options)
    assert status == 2
    assert limit in capsys.readouterr().err
    assert aws.calls == []


def test_spot_training_sets_the_wait_and_a_checkpoint_path_per_job(aws):
    train = [*s3_export(aws), *common(aws), "--max-runtime", "3600"]
    artefact = run(aws, *train, "--spot", "--max-wait", "7200")[1]
    name = job_of(artefact)
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert job["CheckpointConfig"] == {"S3Uri": f"s3://{aws.bucket}/models/checkpoints/{name}/"}
    other = run(aws, *train, "--spot", "--checkpoint-s3", f"s3://{aws.bucket}/ck")[1]
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=job_of(other))
    assert job["CheckpointConfig"] == {"S3Uri": f"s3://{aws.bucket}/ck/"}
    assert job["StoppingCondition"]["MaxWaitTimeInSeconds"] >= 3600


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--spot", "--max-runtime", "3600", "--max-wait", "3599"], "--max-wait"),
        (["--max-wait", "7200"], "--spot"),
        (["--checkpoint-s3", "s3://b/c"], "--spot"),
        (["--spot", "--checkpoint-s3", "b/c"], "s3://"),
        (["--max-runtime", "2419201"], "28 days"),
        (["--job-name", "not_a_name"], "--job-name"),
        (
            ["--instance-type", "ml.m5d.xlarge", "--volume-kms-key-id", "alias/volume"],
            "local NVMe storage",
        ),
    ],
)
def test_requests_sagemaker_refuses_are_usage_errors_before_any_call(
    aws, arguments, message, capsys
):
    status, _ = run(aws, *s3_export(aws), *common(aws), *arguments)
    assert status == 2
    assert message in capsys.readouterr().err
    assert aws.calls == []
