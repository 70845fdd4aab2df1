"""Incremental export of the interaction history for training: what `model/train.py` reads.

Each run writes only what is new since the last one, into a local folder or an S3 prefix:

1. read the watermark at the destination (`watermark.py`): per source, the last id exported,
   and a file that a crashed run may have left half-done, which is written again under its name;
2. stream the rows after the watermark into `interactions-<first id>-<last id>.jsonl`, stopping at
   the first order line from the last EXPORT_SETTLE_SECONDS (a transaction may commit after a later
   id's, and a watermark past an invisible row would skip it for good; clicks commit in id order,
   see `tracking/events.py`, and need no margin);
3. record the planned file in the watermark, publish the file, and only then move the watermark.

The result also says why a run wrote nothing (`explain.py`): rows held back until they settle
(how many, and from when they may go), or a source that yielded nothing after its watermark.
"""

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ..cache.access import CacheUnavailable
from ..cache.lock import CacheLock
from ..conf import app_settings
from . import explain
from .destinations import ExportDestination, destination_for
from .rows import CSV_HEADER, FORMATS, RowChunk, click_rows, format_lines, interaction_rows
from .watermark import WATERMARK_NAME, PendingFile, Watermark

logger = logging.getLogger(__name__)

LOCK_PREFIX = "recommendations:export-lock:"
LOCK_TTL = 60 * 60  # an export that died holding the lock blocks the next one at most this long


@dataclass(frozen=True)
class ExportedFile:
    """One data file written: its source, name, id range and row count."""

    stream: str
    name: str
    first_id: int
    last_id: int
    rows: int


@dataclass(frozen=True)
class HeldRows:
    """Rows after the first one that has not settled: they wait for a later run."""

    rows: int
    first_exportable_at: float  # epoch seconds: from then on a run writes some of them
    all_exportable_at: float  # epoch seconds: from then on a run writes all of them


@dataclass
class ExportResult:
    """What one run wrote, what it held back, and where each source's watermark stands now."""

    destination: str
    files: list[ExportedFile] = field(default_factory=list)
    watermark: dict[str, int] = field(default_factory=dict)
    settle_seconds: float = 0.0
    held: dict[str, HeldRows] = field(default_factory=dict)
    # Sources that yielded no row after their watermark, with that watermark.
    nothing_after: dict[str, int] = field(default_factory=dict)

    def rows(self, stream: str | None = None) -> int:
        """Rows written, of one source or of all."""
        return sum(f.rows for f in self.files if stream is None or f.stream == stream)


@dataclass(frozen=True)
class _Stream:
    name: str
    rows_after: Callable[[int, int], Iterator[RowChunk]]
    settles: bool  # rows of the last EXPORT_SETTLE_SECONDS wait for the next run


def _streams() -> list[_Stream]:
    streams = [_Stream("interactions", interaction_rows, settles=True)]
    click_weight = float(app_settings.EXPORT_CLICK_WEIGHT)
    if click_weight > 0:
        streams.append(
            _Stream(
                "clicks",
                lambda after, size: click_rows(after, size, click_weight),
                settles=False,
            )
        )
    return streams


def export_new(
    target: ExportDestination | str | Path,
    file_format: str = "jsonl",
    since: datetime | None = None,
    chunk_size: int | None = None,
    now: float | None = None,
    settle_seconds: float | None = None,
) -> ExportResult:
    """Export what is new since the destination's watermark (interactions, then clicks).

    `settle_seconds` overrides EXPORT_SETTLE_SECONDS (0 when nothing else writes, e.g. right
    after seeding a demo, so that nothing recent is held back).
    """
    if file_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    destination = (
        destination_for(target) if isinstance(target, str | Path) else target  # type: ignore[arg-type]
    )
    chunk_size = int(chunk_size or app_settings.EXPORT_CHUNK_SIZE)
    now = time.time() if now is None else now
    if settle_seconds is None:
        settle_seconds = float(app_settings.EXPORT_SETTLE_SECONDS)
    since_seconds = since.timestamp() if since is not None else None
    watermark = Watermark.from_json(destination.read_json(WATERMARK_NAME))
    result = ExportResult(destination=destination.describe(), settle_seconds=settle_seconds)
    for stream in _streams():
        pending = watermark.mark(stream.name).pending
        if pending is not None:
            # A run died after planning this file: the same range under the same name again.
            exported = _rewrite_pending(destination, stream, pending, chunk_size)
            watermark = watermark.committed(stream.name, pending.last_id)
            _store(destination, watermark)
            result.files.append(exported)
        watermark = _export_range(
            destination,
            watermark,
            stream,
            file_format,
            since_seconds,
            chunk_size,
            settle_seconds if stream.settles else None,
            now,
            result,
        )
    result.watermark = watermark.positions()
    logger.info(
        "Export to %s wrote %d rows in %d files",
        result.destination,
        result.rows(),
        len(result.files),
        extra={
            "destination": result.destination,
            "rows": result.rows(),
            "files": len(result.files),
            "watermark": result.watermark,
            "held_rows": sum(held.rows for held in result.held.values()),
        },
    )
    for line in explain.why_rows_wait(result):
        logger.info("Export to %s: %s", result.destination, line)
    return result


def export_exclusive(target: str | Path, **options) -> ExportResult | None:
    """`export_new` unless another export to the same destination is running (then None)."""
    # One lock per place, however it is written (beat's absolute path, `make retrain`'s relative one).
    text = str(target)
    key = LOCK_PREFIX + (text if text.startswith("s3://") else str(Path(text).resolve()))
    lock = CacheLock(key, LOCK_TTL)
    try:
        locked = lock.acquire()
    except CacheUnavailable:
        # No cache, no lock: two exports at the very same moment could then overlap; one daily
        # task and an occasional manual run make that unlikely enough to go on.
        logger.warning("Export runs without its lock: cache unavailable", extra={"reason": "cache"})
        return export_new(target, **options)
    if not locked:
        logger.info("Export skipped: another one is running", extra={"destination": str(target)})
        return None
    try:
        return export_new(target, **options)
    finally:
        lock.release()  # only this run's: one that expired and was taken by another run stays


def _export_range(
    destination: ExportDestination,
    watermark: Watermark,
    stream: _Stream,
    file_format: str,
    since: float | None,
    chunk_size: int,
    settle_seconds: float | None,
    now: float,
    result: ExportResult,
) -> Watermark:
    """Everything settled after the stream's watermark: one file, planned, published, committed."""
    after = watermark.mark(stream.name).exported_to
    settled_before = None if settle_seconds is None else now - settle_seconds
    staging, rows, last_id, held = _stage(
        destination, stream, after, None, since, settled_before, file_format, chunk_size
    )
    if held is not None:
        count, first_timestamp, newest_timestamp = held
        result.held[stream.name] = HeldRows(
            rows=count,
            first_exportable_at=first_timestamp + float(settle_seconds or 0),
            all_exportable_at=newest_timestamp + float(settle_seconds or 0),
        )
    elif last_id is None:
        result.nothing_after[stream.name] = after
    if last_id is None:  # nothing new
        staging.unlink(missing_ok=True)
        return watermark
    if rows == 0:
        # Only rows the export leaves out (before --since, anonymous clicks): move past them.
        staging.unlink(missing_ok=True)
        watermark = watermark.committed(stream.name, last_id)
        _store(destination, watermark)
        return watermark
    pending = PendingFile(
        name=f"{stream.name}-{after + 1:012d}-{last_id:012d}.{file_format}",
        first_id=after + 1,
        last_id=last_id,
        since=since,
    )
    try:
        _store(destination, watermark.planned(stream.name, pending))
        destination.publish(staging, pending.name)
    finally:
        staging.unlink(missing_ok=True)
    watermark = watermark.committed(stream.name, last_id)
    _store(destination, watermark)
    result.files.append(ExportedFile(stream.name, pending.name, after + 1, last_id, rows))
    return watermark


def _rewrite_pending(
    destination: ExportDestination, stream: _Stream, pending: PendingFile, chunk_size: int
) -> ExportedFile:
    """Write a pending file again: the rows of its id range, under its name."""
    file_format = "csv" if pending.name.endswith(".csv") else "jsonl"
    staging, rows, _, _ = _stage(
        destination,
        stream,
        pending.first_id - 1,
        pending.last_id,
        pending.since,
        None,  # its rows had settled when it was planned
        file_format,
        chunk_size,
    )
    try:
        destination.publish(staging, pending.name)
    finally:
        staging.unlink(missing_ok=True)
    logger.info(
        "Export rewrote %s after an interrupted run",
        pending.name,
        extra={"destination": destination.describe(), "file": pending.name, "rows": rows},
    )
    return ExportedFile(stream.name, pending.name, pending.first_id, pending.last_id, rows)


def _stage(
    destination: ExportDestination,
    stream: _Stream,
    after: int,
    up_to: int | None,
    since: float | None,
    settled_before: float | None,
    file_format: str,
    chunk_size: int,
) -> tuple[Path, int, int | None, tuple[int, float, float] | None]:
    """Stream rows after `after` into a local file: (path, rows written, last id consumed, and
    the rows held back until they settle: their count, the first one's and the newest timestamp)."""
    descriptor, name = tempfile.mkstemp(
        prefix=".export-", suffix=".partial", dir=destination.staging_dir()
    )
    path = Path(name)
    rows = 0
    last_id: int | None = None
    held: tuple[int, float, float] | None = None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as output:
            if file_format == "csv":
                output.write(CSV_HEADER)
            for chunk in stream.rows_after(after, chunk_size):
                if held is not None:
                    # Past the first unsettled row: only counted, for the report (the rows of
                    # the last EXPORT_SETTLE_SECONDS, and any written out of order among them).
                    count, first, newest = held
                    held = (count + len(chunk), first, max(newest, float(chunk.timestamps.max())))
                    continue
                end = len(chunk)
                if up_to is not None:
                    end = min(end, int(np.searchsorted(chunk.ids, up_to, side="right")))
                if settled_before is not None:
                    recent = np.flatnonzero(chunk.timestamps[:end] >= settled_before)
                    if recent.size:
                        end = int(recent[0])
                        waiting = chunk.timestamps[end:]
                        held = (len(waiting), float(waiting[0]), float(waiting.max()))
                if end:
                    last_id = int(chunk.ids[end - 1])
                    kept = np.zeros(len(chunk), dtype=bool)
                    kept[:end] = True
                    if since is not None:
                        kept &= chunk.timestamps >= since
                    lines = format_lines(chunk.take(kept), file_format)
                    output.writelines(lines)
                    rows += len(lines)
                if end < len(chunk) and held is None:
                    break  # past the range
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, rows, last_id, held


def _store(destination: ExportDestination, watermark: Watermark) -> None:
    destination.write_json(WATERMARK_NAME, watermark.to_json())
