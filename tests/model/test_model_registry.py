"""Register → gate → deploy on moto's server over HTTP: the Model Registry and the gate.

moto 5.2 implements every Model Registry call these commands make (CreateModelPackageGroup,
DescribeModelPackageGroup, CreateModelPackage, DescribeModelPackage, UpdateModelPackage), so
no Stubber is needed here. moto does not check the service's limits on them (metadata entries,
ApprovalDescription's length); model/aws/deploy/registry.py does, and tests/model/test_model_gate.py
holds it to them.
"""

import io
import tarfile
import uuid

import pytest

from model.aws.deploy.cli import main as deploy
from model.aws.promote import REJECTED_EXIT
from model.aws.promote import main as promote
from model.aws.register import main as register
from model.data.interactions import write_jsonl
from model.data.synthetic import taste_interactions
from model.evaluation.fallback_baseline import CO_PURCHASE_BLEND, DECAYED_POPULARITY
from model.evaluation.gate import DAY
from model.training.run import train

pytestmark = [pytest.mark.integration, pytest.mark.cloud]

PERIOD_DAYS = 14


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An export and two training-job artefacts: one fitted before the last two weeks on all
    the older data, one on a single week."""
    root = tmp_path_factory.mktemp("registry")
    interactions = taste_interactions(num_users=800, num_items=150, span_days=180, seed=3)
    export = root / "export"
    export.mkdir()
    write_jsonl(export / "orders.jsonl", interactions)
    end = float(interactions.timestamps.max())
    week = root / "week"
    week.mkdir()
    in_week = (interactions.timestamps >= end - 21 * DAY) & (
        interactions.timestamps < end - PERIOD_DAYS * DAY
    )
    write_jsonl(week / "orders.jsonl", interactions.select(in_week))
    train(export, root / "good", hold_out_days=PERIOD_DAYS)
    train(week, root / "week-only")
    archives = {}
    for name in ("good", "week-only"):
        archive = root / f"{name}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in (root / name).iterdir():
                tar.add(path, arcname=path.name)
        archives[name] = archive.read_bytes()
    return export, archives


def registered(aws, endpoint_name: str, archive: bytes, job: str) -> str:
    data = aws.put_model_data(f"models/{job}/output/model.tar.gz", archive)
    out = io.StringIO()
    argv = ["--endpoint-name", endpoint_name, "--image", aws.image, "--model-data", data]
    assert register(argv, aws.session(), out) == 0
    return out.getvalue().strip()


def test_register_makes_the_group_and_a_pending_package_with_every_row(aws, trained):
    _, archives = trained
    endpoint_name = f"shop-recommender-{uuid.uuid4().hex[:6]}"
    arn = registered(aws, endpoint_name, archives["good"], "job-1")
    sagemaker = aws.client("sagemaker")
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelPackageGroupName"] == endpoint_name
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == aws.image
    assert container["ModelDataUrl"].endswith("models/job-1/output/model.tar.gz")
    properties = package["CustomerMetadataProperties"]
    assert {"eval:model", f"eval:{DECAYED_POPULARITY}", f"eval:{CO_PURCHASE_BLEND}"} <= set(
        properties
    )
    assert properties["eval:model"].startswith("ndcg=")
    report = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    key = report.split(f"s3://{aws.bucket}/", 1)[1]
    body = aws.client("s3").get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    assert b'"evaluation"' in body
    # A second model for the same endpoint goes into the same group.
    registered(aws, endpoint_name, archives["week-only"], "job-2")
    assert aws.calls.count("sagemaker:CreateModelPackageGroup") == 1


def test_the_gate_approves_one_package_and_rejects_a_worse_one_then_deploy_takes_only_the_first(
    aws, trained, capsys
):
    export, archives = trained
    endpoint_name = f"shop-recommender-{uuid.uuid4().hex[:6]}"
    good = registered(aws, endpoint_name, archives["good"], "job-good")
    worse = registered(aws, endpoint_name, archives["week-only"], "job-week")
    capsys.readouterr()
    # The gate reads the export where make deploy leaves it: under an S3 prefix.
    for path in export.iterdir():
        aws.client("s3").upload_file(str(path), aws.bucket, f"training/{path.name}")
    gate = ["--data", f"s3://{aws.bucket}/training", "--live-endpoint", endpoint_name]
    gate += ["--period-days", str(PERIOD_DAYS)]
    assert promote([*gate, "--model-package", good], aws.session()) == 0
    approved_out = capsys.readouterr().out
    assert promote([*gate, "--model-package", worse], aws.session()) == REJECTED_EXIT
    rejected_out = capsys.readouterr().out
    print(approved_out, rejected_out, sep="\n")  # kept in the test log: both tables
    sagemaker = aws.client("sagemaker")
    assert sagemaker.describe_model_package(ModelPackageName=good)["ModelApprovalStatus"] == (
        "Approved"
    )
    rejected = sagemaker.describe_model_package(ModelPackageName=worse)
    assert rejected["ModelApprovalStatus"] == "Rejected"
    assert rejected["ApprovalDescription"].startswith("rejected: lead over")
    assert "ndcg@10" in rejected["ApprovalDescription"]

    common = ["--endpoint-name", endpoint_name, "--role", aws.role_arn, "--poll-seconds", "0.01"]
    before = len(aws.calls)
    assert deploy([*common, "--model-package", worse], aws.session(), io.StringIO()) == 1
    assert "is Rejected, not Approved" in capsys.readouterr().err
    assert all(
        call.split(":")[1].startswith(("Describe", "Get", "Head", "List"))
        for call in aws.calls[before:]
    ), aws.calls[before:]

    assert deploy([*common, "--model-package", good], aws.session(), io.StringIO()) == 0
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    model = sagemaker.describe_model(ModelName=endpoint["EndpointConfigName"])
    assert model["PrimaryContainer"]["ModelDataUrl"].endswith("job-good/output/model.tar.gz")
    assert model["PrimaryContainer"]["Image"] == aws.image


def test_a_rerun_registers_nothing_new_and_the_gate_reports_its_decision(aws, trained, capsys):
    export, archives = trained
    endpoint_name = f"shop-recommender-{uuid.uuid4().hex[:6]}"
    arn = registered(aws, endpoint_name, archives["week-only"], "job-once")
    gate = ["--data", str(export), "--model-package", arn, "--period-days", str(PERIOD_DAYS)]
    assert promote(gate, aws.session()) == REJECTED_EXIT
    # make deploy again with nothing new: the same artefact, so the same package ...
    assert registered(aws, endpoint_name, archives["week-only"], "job-once") == arn
    assert aws.calls.count("sagemaker:CreateModelPackage") == 1
    capsys.readouterr()
    # ... and the gate's decision stands, without judging again.
    before = aws.calls.count("sagemaker:UpdateModelPackage")
    assert promote(gate, aws.session()) == REJECTED_EXIT
    assert f"gate: model package {arn} was Rejected before (rejected: lead over" in (
        capsys.readouterr().out
    )
    assert aws.calls.count("sagemaker:UpdateModelPackage") == before
