"""Where an export goes: a local folder or an S3 prefix, behind one small interface.

The exporter writes each data file to a local staging file first, then `publish`es it under its
final name; small JSON documents (the watermark) are written whole. Both kinds of write replace
an object atomically: a reader sees the old object or the new one, never half of one (a rename
in a folder; a PUT, or a completed multipart upload, in S3: `s3.py`, imported only for an
s3:// destination, as it needs boto3).
"""

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from ..exceptions import ExportError

logger = logging.getLogger(__name__)


class ExportDestination(Protocol):
    """What the exporter needs of a destination."""

    def describe(self) -> str:
        """Where it is, for messages (no credentials)."""

    def staging_dir(self) -> Path | None:
        """The folder to write staging files in (None: the system's temporary folder)."""

    def publish(self, local_path: Path, name: str) -> None:
        """Move the finished local file to `name`, replacing any object of that name."""

    def read_json(self, name: str) -> dict[str, Any] | None:
        """The JSON document stored as `name`, or None when there is none."""

    def write_json(self, name: str, document: dict[str, Any]) -> None:
        """Store `document` as `name`, durably and atomically."""


class FolderDestination:
    """A local folder (the one `model/train.py --train` reads)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        return str(self.path)

    def staging_dir(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        # In the folder itself, so that publishing is a rename and never a copy.
        return self.path

    def publish(self, local_path: Path, name: str) -> None:
        _fsync_file(local_path)
        os.replace(local_path, self.path / name)
        _fsync_dir(self.path)

    def read_json(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def write_json(self, name: str, document: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=self.path)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                json.dump(document, stream, indent=2, sort_keys=True)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(partial, self.path / name)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path)


def destination_for(target: str | Path) -> ExportDestination:
    """`s3://bucket/prefix` or a folder path, as a destination."""
    text = str(target)
    if text.startswith("s3://"):
        parsed = urlparse(text)
        if not parsed.netloc:
            raise ExportError(f"{text!r} names no bucket (s3://bucket/prefix)", retryable=False)
        from .s3 import S3Destination

        return S3Destination(parsed.netloc, parsed.path)
    if "://" in text:
        raise ExportError(
            f"{text!r}: only s3://bucket/prefix or a local folder are supported", retryable=False
        )
    return FolderDestination(text)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as stream:
        os.fsync(stream.fileno())


def _fsync_dir(path: Path) -> None:
    # The rename itself must reach the disk before the watermark that depends on it.
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
