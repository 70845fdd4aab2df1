"""The export to S3, against a real S3-compatible server on loopback (moto's server mode).

The app only knows `EXPORT_S3_ENDPOINT_URL`; boto3 talks HTTP to the server as it would to AWS.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from recommendations.catalog import CatalogAdapter, InteractionChunk, KeyedInteractionChunk
from recommendations.exceptions import ExportError
from recommendations.export.run import export_new
from recommendations.export.s3 import S3Destination
from recommendations.export.watermark import WATERMARK_NAME
from recommendations.tasks import export_interactions
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.factories import make_customer, make_order, make_product

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3_url(moto_url) -> str:
    return moto_url


@pytest.fixture
def s3(s3_url):
    """A boto3 client of the server (the test's own, to look at what the export wrote)."""
    return boto3.session.Session().client("s3", endpoint_url=s3_url, region_name="eu-west-1")


@pytest.fixture
def bucket(s3) -> str:
    name = f"exports-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return name


def export_settings(s3_url: str, **overrides):
    """The shop's RECOMMENDATIONS pointed at the local S3 server."""
    return override_settings(
        RECOMMENDATIONS={
            **settings.RECOMMENDATIONS,
            "EXPORT_S3_ENDPOINT_URL": s3_url,
            **overrides,
        }
    )


def keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture
def shop():
    """Two customers and three orders (four lines), all long settled."""
    products = [make_product() for _ in range(3)]
    users = [make_customer(), make_customer()]
    make_order(users[0], products[:2], created_at=BASE)
    make_order(users[1], products[1:], quantity=2, created_at=BASE + timedelta(days=1))
    return users, products


def test_export_lands_in_the_bucket_and_a_second_run_adds_nothing(s3_url, s3, bucket, shop):
    users, _ = shop
    with export_settings(s3_url):
        call_command("recommendations_export", "--to", f"s3://{bucket}/shop/training")
    objects = keys(s3, bucket)
    data = [k for k in objects if k != f"shop/training/{WATERMARK_NAME}"]
    assert len(data) == 1 and data[0].startswith("shop/training/interactions-")
    assert f"shop/training/{WATERMARK_NAME}" in objects
    rows = [json.loads(line) for line in body(s3, bucket, data[0]).decode().splitlines()]
    assert len(rows) == 4
    assert {r["user_id"] for r in rows} == {pseudonym(u.pk) for u in users}
    head = s3.head_object(Bucket=bucket, Key=data[0])
    assert head["ContentType"] == "application/x-ndjson"
    assert "-" not in head["ETag"]  # small: a single PUT
    watermark = json.loads(body(s3, bucket, f"shop/training/{WATERMARK_NAME}"))

    with export_settings(s3_url):
        result = export_new(f"s3://{bucket}/shop/training")
    assert result.files == []
    assert keys(s3, bucket) == objects
    assert json.loads(body(s3, bucket, f"shop/training/{WATERMARK_NAME}")) == watermark


class ManyInteractions(CatalogAdapter):
    """Stands for a shop with a long history (60,000 order lines) without inserting them into
    the test database: only the export's source is replaced, the upload path is the real one."""

    ROWS = 60_000

    def interaction_chunks_after(self, after_id, chunk_size=100_000):
        rng = np.random.default_rng(3)
        ids = np.arange(1, self.ROWS + 1, dtype=np.int64)
        users = rng.integers(1, 5_000, self.ROWS)
        items = rng.integers(1, 800, self.ROWS)
        for start in range(0, self.ROWS, chunk_size):
            part = slice(start, start + chunk_size)
            keep = ids[part] > after_id
            yield KeyedInteractionChunk(
                ids=ids[part][keep],
                interactions=InteractionChunk(
                    user_ids=users[part][keep],
                    item_ids=items[part][keep],
                    weights=np.ones(int(keep.sum()), dtype=np.float32),
                    timestamps=np.full(int(keep.sum()), BASE.timestamp()),
                ),
            )


def test_a_large_file_goes_up_in_parts(s3_url, s3, bucket):
    with export_settings(
        s3_url,
        CATALOG="tests.app.test_export_s3.ManyInteractions",
        EXPORT_S3_MULTIPART_THRESHOLD=MIB,
        # S3 takes parts of 5 MiB at least (s3transfer raises a smaller size to that).
        EXPORT_S3_MULTIPART_CHUNKSIZE=5 * MIB,
    ):
        result = export_new(f"s3://{bucket}/big", chunk_size=25_000)
    (exported,) = result.files
    assert exported.rows == ManyInteractions.ROWS
    key = f"big/{exported.name}"
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] > 5 * MIB
    # A multipart object's ETag ends in "-<number of parts>".
    assert head["ETag"].strip('"').endswith("-2")
    lines = body(s3, bucket, key).decode().splitlines()
    assert len(lines) == ManyInteractions.ROWS
    assert json.loads(lines[0])["timestamp"] == BASE.timestamp()


class Crash(Exception):
    """Stands for the process dying at the point it is raised."""


class DiesAfterUploading(S3Destination):
    """The real S3 destination, in a process that dies right after a data file's upload
    completes: the object is in the bucket, the watermark does not count it yet."""

    def publish(self, local_path, name):
        super().publish(local_path, name)
        raise Crash(name)


def test_crash_between_upload_and_watermark_rewrites_the_same_key(s3_url, s3, bucket, shop):
    users, products = shop
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    with export_settings(s3_url):
        with pytest.raises(Crash):
            export_new(DiesAfterUploading(bucket, "training"))
        (interrupted,) = [k for k in keys(s3, bucket) if "/interactions-" in k]
        # A new order arrives before the next run.
        make_order(users[0], [products[2]], created_at=BASE + timedelta(days=2))
        result = export_new(f"s3://{bucket}/training")

    names = [f"training/{f.name}" for f in result.files]
    assert names[0] == interrupted  # the same range under the same key...
    versions = s3.list_object_versions(Bucket=bucket, Prefix=interrupted)["Versions"]
    assert len(versions) == 2  # ...written twice: replaced, not duplicated
    assert len(names) == 2 and names[1] != interrupted  # the new order in a file of its own
    data_keys = [k for k in keys(s3, bucket) if "/interactions-" in k]
    assert data_keys == sorted(names)
    rows = [
        json.loads(line)
        for key in data_keys
        for line in body(s3, bucket, key).decode().splitlines()
    ]
    assert len(rows) == 5  # four lines before the crash and one after, each once
    watermark = json.loads(body(s3, bucket, f"training/{WATERMARK_NAME}"))
    assert watermark["streams"]["interactions"]["pending"] is None


def test_missing_bucket_fails_without_retrying(s3_url, shop):
    with export_settings(s3_url), pytest.raises(CommandError, match="NoSuchBucket"):
        call_command("recommendations_export", "--to", "s3://no-such-bucket-here/x")
    with export_settings(s3_url), pytest.raises(ExportError) as caught:
        export_new("s3://no-such-bucket-here/x")
    assert caught.value.retryable is False


def test_extra_upload_arguments_reach_s3(s3_url, s3, bucket, shop):
    with export_settings(s3_url, EXPORT_S3_EXTRA_ARGS={"ServerSideEncryption": "AES256"}):
        result = export_new(f"s3://{bucket}")
    head = s3.head_object(Bucket=bucket, Key=result.files[0].name)
    assert head["ServerSideEncryption"] == "AES256"


def test_daily_task_gives_up_at_once_on_a_missing_bucket(s3_url, shop, caplog):
    with export_settings(s3_url, EXPORT_DESTINATION="s3://no-such-bucket-here/daily"):
        result = export_interactions.apply()
    assert result.successful() and result.result is None  # logged, not retried
    (record,) = [r for r in caplog.records if r.name == "recommendations.tasks"]
    assert record.levelname == "ERROR" and "NoSuchBucket" in record.getMessage()
