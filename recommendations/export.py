"""Exporting the interaction history for training: what `model/train.py` reads.

Rows are `user_id` (the user's pseudonym, never the primary key), `item_id` (the wire id),
`weight` and `timestamp` (seconds since the epoch), as JSON Lines or CSV. The history is streamed
from the catalog adapter in numpy chunks, so memory stays flat however many orders the shop has;
the file is written under a temporary name and renamed, so a reader never sees half an export.
"""

import csv
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from .catalog import InteractionChunk, get_catalog
from .pseudonyms import pseudonym

logger = logging.getLogger(__name__)

FORMATS = ("jsonl", "csv")
COLUMNS = ("user_id", "item_id", "weight", "timestamp")


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and how many rows it holds."""

    path: Path
    rows: int


def export_interactions(
    directory: Path | str,
    file_format: str = "jsonl",
    since: datetime | None = None,
    chunk_size: int = 100_000,
) -> ExportResult:
    """Write `interactions.<format>` into `directory` from the catalog's interaction history."""
    if file_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"interactions.{file_format}"
    descriptor, partial = tempfile.mkstemp(prefix=".interactions-", dir=directory)
    rows = 0
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as stream:
            if file_format == "csv":
                csv.writer(stream).writerow(COLUMNS)
            catalog = get_catalog()
            for chunk in catalog.interaction_chunks(since=since, chunk_size=chunk_size):
                rows += write_chunk(stream, chunk, file_format)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    logger.info("interactions exported", extra={"rows": rows, "format": file_format})
    return ExportResult(path=path, rows=rows)


def write_chunk(stream: TextIO, chunk: InteractionChunk, file_format: str) -> int:
    """Append one chunk's rows to `stream`; returns the number of rows."""
    lines = list(_lines(chunk, file_format))
    stream.writelines(lines)
    return len(lines)


def _lines(chunk: InteractionChunk, file_format: str) -> Iterator[str]:
    # One keyed hash per distinct user in the chunk, not per row.
    distinct, inverse = np.unique(chunk.user_ids, return_inverse=True)
    names = [pseudonym(int(user_pk)) for user_pk in distinct.tolist()]
    for position, item_pk, weight, timestamp in zip(
        inverse.tolist(),
        chunk.item_ids.tolist(),
        chunk.weights.tolist(),
        chunk.timestamps.tolist(),
        strict=True,
    ):
        weight_text = _number(weight, 6)
        time_text = _number(timestamp, 3)
        if file_format == "csv":
            # Pseudonyms are hex and item ids integers: nothing here needs CSV quoting.
            yield f"{names[position]},{item_pk},{weight_text},{time_text}\r\n"
        else:
            yield (
                f'{{"user_id":"{names[position]}","item_id":"{item_pk}",'
                f'"weight":{weight_text},"timestamp":{time_text}}}\n'
            )


def _number(value: float, decimals: int) -> str:
    """A JSON/CSV number without float noise: 1.0 -> "1", 1714521600.25 -> "1714521600.25"."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
