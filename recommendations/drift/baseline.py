"""Getting a model version's training baseline into the database, and reading it back.

The training job writes `drift_baseline.json.gz` next to the model (model/training/drift_baseline.py).
`DRIFT_BASELINE` names it, as a path or an s3:// URI; `load_baseline` stores it per model version
(the daily task loads it before computing, and `recommendations_drift --load` does it by hand),
so the figures of an older version can still be computed, and pages never read it.
"""

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from django.utils import timezone

from ..models import DriftBaseline

FORMAT = 1


class BaselineError(ValueError):
    """The baseline file cannot be read or is not a drift baseline: says which and why."""


@dataclass(frozen=True)
class Baseline:
    """A decoded baseline: the catalogue as sorted ids, each with its popularity bin."""

    model_version: str
    sorted_items: np.ndarray  # str, sorted: searchsorted finds an item
    bin_of_sorted: np.ndarray  # int, the popularity bin of sorted_items[i]
    popularity_shares: np.ndarray  # the training interactions' share per bin, then 0 for "unseen"
    history_edges: np.ndarray
    history_counts: np.ndarray

    @property
    def unseen_bin(self) -> int:
        """The bin of items the model never saw (the last one)."""
        return len(self.popularity_shares) - 1

    def popularity_bins(self, item_ids: np.ndarray | list[str]) -> np.ndarray:
        """The popularity bin of each id (`unseen_bin` for an item the model never saw)."""
        ids = np.asarray(item_ids, dtype=str)
        bins = np.full(len(ids), self.unseen_bin, dtype=np.int64)
        if len(self.sorted_items) and len(ids):
            at = np.minimum(np.searchsorted(self.sorted_items, ids), len(self.sorted_items) - 1)
            known = self.sorted_items[at] == ids
            bins[known] = self.bin_of_sorted[at[known]]
        return bins

    def knows(self, item_ids: np.ndarray | list[str]) -> np.ndarray:
        """One flag per id: true when the model saw the item in training."""
        return self.popularity_bins(item_ids) != self.unseen_bin


def decode(document: dict[str, Any]) -> Baseline:
    """A `Baseline` from the file's JSON document."""
    items = np.asarray(document["items"], dtype=str)
    starts = np.asarray(document["popularity_bin_starts"], dtype=np.int64)
    # The bin of rank r is the last bin starting at or before r (empty bins share a start).
    bin_of_rank = np.searchsorted(starts, np.arange(len(items)), side="right") - 1
    order = np.argsort(items, kind="stable")
    return Baseline(
        model_version=str(document["model_version"]),
        sorted_items=items[order],
        bin_of_sorted=bin_of_rank[order],
        popularity_shares=np.append(np.asarray(document["popularity_shares"], dtype=float), 0.0),
        history_edges=np.asarray(document["history_lengths"]["edges"], dtype=np.int64),
        history_counts=np.asarray(document["history_lengths"]["counts"], dtype=np.float64),
    )


def parse(data: bytes, source: str) -> dict[str, Any]:
    """The JSON document of a baseline file's bytes (gzip'd or plain); BaselineError."""
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        document = json.loads(data)
    except (OSError, EOFError, ValueError) as error:
        raise BaselineError(f"{source}: not a gzip'd JSON drift baseline ({error})") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BaselineError(f"{source}: not a drift baseline of format {FORMAT}")
    try:
        decode(document)
        float(document["min_timestamp"]), float(document["max_timestamp"])
    except (KeyError, TypeError, ValueError) as error:
        raise BaselineError(f"{source}: the drift baseline lacks or mangles {error}") from error
    if not document["model_version"]:
        raise BaselineError(f"{source}: the drift baseline names no model version")
    return document


def read_source(source: str) -> bytes:
    """The bytes at a path or an s3:// URI; BaselineError when they cannot be read."""
    if source.startswith("s3://"):
        from ..export.s3 import s3_client

        parsed = urlparse(source)
        try:
            response = s3_client().get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
            return response["Body"].read()
        except Exception as error:  # botocore's errors stay out of this package
            raise BaselineError(f"{source}: cannot read it from S3 ({error})") from error
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise BaselineError(f"{source}: cannot read it ({error.strerror or error})") from error


def load_baseline(source: str) -> DriftBaseline:
    """Read the baseline at `source` and store it for its model version (replacing an older copy)."""
    data = read_source(source)
    document = parse(data, source)
    stored, _ = DriftBaseline.objects.update_or_create(
        model_version=str(document["model_version"]),
        defaults={
            "data": gzip.compress(json.dumps(document).encode(), mtime=0)
            if data[:2] != b"\x1f\x8b"
            else data,
            "source": source[:1024],
            "min_timestamp": datetime.fromtimestamp(float(document["min_timestamp"]), tz=UTC),
            "max_timestamp": datetime.fromtimestamp(float(document["max_timestamp"]), tz=UTC),
            "items": len(document["items"]),
            "loaded_at": timezone.now(),
        },
    )
    return stored


def stored_baseline(model_version: str) -> tuple[DriftBaseline, Baseline] | None:
    """The stored baseline of `model_version`, decoded; None when none was loaded."""
    stored = DriftBaseline.objects.filter(model_version=model_version).first()
    if stored is None:
        return None
    return stored, decode(parse(bytes(stored.data), f"the stored baseline of {model_version}"))
