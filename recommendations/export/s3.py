"""An S3 prefix as an export destination, through boto3 (the `[sagemaker]` or `[http]` extra).

Files go up with a `TransferConfig`, so files above EXPORT_S3_MULTIPART_THRESHOLD go up in parts;
EXPORT_S3_ENDPOINT_URL points the client at any S3-compatible server.
"""

import json
from pathlib import Path
from typing import Any

from ..backends.extras import MissingExtra

try:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as err:
    raise MissingExtra("export to S3", "sagemaker", err) from err

from ..conf import app_settings
from ..exceptions import ExportError

# Error codes after which trying again cannot help: the destination itself is wrong.
_PERMANENT_S3_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "InvalidBucketName",
    "NoSuchBucket",
    "SignatureDoesNotMatch",
}


class S3Destination:
    """A bucket and key prefix; objects are `<prefix>/<name>`."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or s3_client()
        self.transfer_config = TransferConfig(
            multipart_threshold=int(app_settings.EXPORT_S3_MULTIPART_THRESHOLD),
            multipart_chunksize=int(app_settings.EXPORT_S3_MULTIPART_CHUNKSIZE),
        )

    def key(self, name: str) -> str:
        """The object key of `name`."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def staging_dir(self) -> None:
        return None

    def publish(self, local_path: Path, name: str) -> None:
        try:
            # upload_file switches to a multipart upload above the threshold; S3 makes the
            # object visible only when the upload completes, so no reader sees a part of it.
            self.client.upload_file(
                str(local_path),
                self.bucket,
                self.key(name),
                ExtraArgs=self._extra_args(_content_type(name)),
                Config=self.transfer_config,
            )
        except (ClientError, BotoCoreError) as error:
            raise _export_error(error, f"upload of {name} to {self.describe()} failed") from error
        finally:
            local_path.unlink(missing_ok=True)

    def read_json(self, name: str) -> dict[str, Any] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise _export_error(error, f"reading {name} from {self.describe()} failed") from error
        except BotoCoreError as error:
            raise _export_error(error, f"reading {name} from {self.describe()} failed") from error
        with response["Body"] as body:
            return json.loads(body.read())

    def write_json(self, name: str, document: dict[str, Any]) -> None:
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(name),
                Body=body,
                **self._extra_args("application/json"),
            )
        except (ClientError, BotoCoreError) as error:
            raise _export_error(error, f"writing {name} to {self.describe()} failed") from error

    def _extra_args(self, content_type: str) -> dict[str, Any]:
        # EXPORT_S3_EXTRA_ARGS carries what a bucket policy may demand (ServerSideEncryption,
        # SSEKMSKeyId, ACL...).
        return {"ContentType": content_type, **dict(app_settings.EXPORT_S3_EXTRA_ARGS or {})}


def s3_client() -> Any:
    """A boto3 S3 client from the standard credential chain and the EXPORT_S3_* settings."""
    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 5},
        user_agent_extra="django-hybrid-recommendations-export",
    )
    # A session per client: sessions are not thread-safe, and an export runs rarely.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=app_settings.EXPORT_S3_ENDPOINT_URL or None,
        region_name=app_settings.EXPORT_S3_REGION or app_settings.REGION or None,
        config=config,
    )


def _export_error(error: Exception, message: str) -> ExportError:
    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
    detail = f"{message} ({code or type(error).__name__})"
    return ExportError(detail, retryable=code not in _PERMANENT_S3_CODES)


def _content_type(name: str) -> str:
    if name.endswith(".csv"):
        return "text/csv"
    if name.endswith(".jsonl"):
        return "application/x-ndjson"
    return "application/octet-stream"
