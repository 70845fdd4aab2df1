"""Model artefacts where the cloud commands find them: a local folder or file, or an s3:// URI."""

import tarfile
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from .deploy.errors import NotFound, explain
from .deploy.plan import Runner


def fetch_artefact(runner: Runner, location: str, folder: Path) -> Path:
    """A local path for `location`: itself, or the s3:// object downloaded into `folder`."""
    if not location.startswith("s3://"):
        path = Path(location)
        if not path.exists():
            raise NotFound(f"{location} does not exist")
        return path
    parsed = urlparse(location)
    target = folder / (Path(parsed.path).name or "model.tar.gz")
    try:
        runner.clients.get("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(target))
    except (ClientError, BotoCoreError) as err:
        raise explain(err, "s3:GetObject") from None
    return target


def read_member(archive: Path, name: str) -> bytes | None:
    """The bytes of `name` at the root of a model.tar.gz (or a model folder); None if absent."""
    if archive.is_dir():
        path = archive / name
        return path.read_bytes() if path.exists() else None
    with tarfile.open(archive) as opened:
        for member in opened.getmembers():
            if member.isfile() and member.name.lstrip("./") == name:
                extracted = opened.extractfile(member)
                return extracted.read() if extracted else None
    return None


def scratch() -> Any:
    """A temporary folder for downloaded artefacts, removed on exit."""
    return tempfile.TemporaryDirectory(prefix="model-artefacts-")


def fetch_export(runner: Runner, location: str, folder: Path) -> Path:
    """A local folder of the export at `location`: itself, or the s3:// prefix downloaded."""
    if not location.startswith("s3://"):
        return Path(location)
    parsed = urlparse(location)
    prefix = parsed.path.strip("/")
    prefix = prefix + "/" if prefix else ""
    s3 = runner.clients.get("s3")
    count = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=parsed.netloc, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                # As the training job reads it: names starting "_" or "." are not data.
                if not name or any(part.startswith(("_", ".")) for part in name.split("/")):
                    continue
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(parsed.netloc, item["Key"], str(target))
                count += 1
    except (ClientError, BotoCoreError) as err:
        raise explain(err, "s3:GetObject") from None
    if not count:
        raise NotFound(f"no export under {location}: run recommendations_export --to {location}")
    return folder
