"""Reading interaction data: CSV or JSON Lines files with user_id, item_id, weight, timestamp.

This is the format `manage.py recommendations_export` writes and the SageMaker training channel
holds. Ids are opaque strings (user pseudonyms, product primary keys as strings); weight defaults
to 1 and timestamp (seconds since the epoch, or an ISO 8601 string) to 0 when a row leaves them out.
The public rating formats (`user item rating timestamp` lines, CSV with named columns) are read by
model/data/formats.py, chosen with `file_format`.
"""

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

COLUMNS = ("user_id", "item_id", "weight", "timestamp")
# auto: by suffix (and `columns`); interactions: the export's files; ratings: `user item rating
# timestamp` lines (whitespace, tab or "::" separated); csv: CSV with the columns named in `columns`.
FORMATS = ("auto", "interactions", "ratings", "csv")
RATINGS_SUFFIXES = (".data", ".dat", ".tsv", ".txt", ".data.gz", ".dat.gz", ".tsv.gz", ".txt.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")


class DataError(ValueError):
    """The training data cannot be read: says which file and line."""


@dataclass(frozen=True)
class Interactions:
    """Interactions as parallel arrays, one entry per row of the input."""

    user_ids: np.ndarray  # str
    item_ids: np.ndarray  # str
    weights: np.ndarray  # float32
    timestamps: np.ndarray  # float64, seconds since the epoch

    def __len__(self) -> int:
        return len(self.user_ids)

    def select(self, mask: np.ndarray) -> "Interactions":
        """The rows where `mask` is true (or at the given indices)."""
        return Interactions(
            self.user_ids[mask], self.item_ids[mask], self.weights[mask], self.timestamps[mask]
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, float, float]]) -> "Interactions":
        """Build from (user_id, item_id, weight, timestamp) tuples."""
        users, items, weights, timestamps = [], [], [], []
        for user_id, item_id, weight, timestamp in rows:
            users.append(user_id)
            items.append(item_id)
            weights.append(weight)
            timestamps.append(timestamp)
        return cls(
            np.array(users, dtype=str),
            np.array(items, dtype=str),
            np.array(weights, dtype=np.float32),
            np.array(timestamps, dtype=np.float64),
        )


def data_files(
    path: Path,
    suffixes: tuple[str, ...] = CSV_SUFFIXES + JSONL_SUFFIXES,
    described: str = ".csv or .jsonl",
) -> list[Path]:
    """The data files at `path` (a file, or a folder's files with `suffixes` in name order)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")
    # Names starting with "_" or "." are bookkeeping, not data (the export's _watermark.json,
    # Hadoop's _SUCCESS, a writer's hidden partial file).
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.name.endswith(suffixes) and not p.name.startswith(("_", "."))
    )
    if not files:
        raise DataError(f"{path}: no {described} files")
    return files


def read_interactions(
    path: Path | str,
    file_format: str = "auto",
    rating_threshold: float | None = None,
    columns: dict[str, str] | None = None,
) -> Interactions:
    """Read every data file at `path` into one `Interactions` (see FORMATS for `file_format`)."""
    from .formats import read_csv_columns, read_ratings, resolve_format

    path = Path(path)
    file_format = resolve_format(path, file_format, columns)
    if file_format == "interactions" and rating_threshold is not None:
        raise DataError(
            "a rating threshold needs rating data: --format ratings, or --format csv with "
            "--columns naming the rating column"
        )
    rows: list[tuple[str, str, float, float]] = []
    if file_format == "ratings":
        for file in data_files(path, RATINGS_SUFFIXES + CSV_SUFFIXES, "ratings"):
            rows.extend(read_ratings(file, rating_threshold))
    elif file_format == "csv":
        for file in data_files(path, CSV_SUFFIXES, ".csv"):
            rows.extend(read_csv_columns(file, columns or {}, rating_threshold))
    else:
        for file in data_files(path):
            rows.extend(_read_file(file))
    if not rows:
        raise DataError(f"{path}: no interactions")
    return Interactions.from_rows(rows)


def open_text(file: Path) -> IO[str]:
    """A text stream of `file`, gunzipped when its name ends in .gz."""
    if file.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(file, "rb"), encoding="utf-8", newline="")
    return file.open(encoding="utf-8", newline="")


def _read_file(file: Path) -> Iterator[tuple[str, str, float, float]]:
    with open_text(file) as stream:
        if file.name.endswith(CSV_SUFFIXES):
            reader = csv.DictReader(stream)
            missing = {"user_id", "item_id"} - set(reader.fieldnames or ())
            if missing:
                raise DataError(f"{file}: header lacks {', '.join(sorted(missing))}")
            for line_number, record in enumerate(reader, start=2):
                yield _row(record, file, line_number)
        else:
            for line_number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{file}:{line_number}: not JSON ({exc.msg})") from exc
                if not isinstance(record, dict):
                    raise DataError(f"{file}:{line_number}: not a JSON object")
                yield _row(record, file, line_number)


def _row(record: dict[str, Any], file: Path, line_number: int) -> tuple[str, str, float, float]:
    try:
        user_id = record["user_id"]
        item_id = record["item_id"]
        if user_id in (None, "") or item_id in (None, ""):
            raise ValueError("empty user_id or item_id")
        weight = record.get("weight")
        weight = 1.0 if weight in (None, "") else float(weight)
        timestamp = parse_timestamp(record.get("timestamp"))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{file}:{line_number}: bad row ({exc})") from exc
    return str(user_id), str(item_id), weight, timestamp


def parse_timestamp(value: object) -> float:
    """Seconds since the epoch from a number, a numeric string or an ISO 8601 string."""
    if value in (None, ""):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text).timestamp()


def write_jsonl(path: Path, interactions: Interactions) -> None:
    """Write `interactions` as JSON Lines in the shop's export format (what the readers here read)."""
    with path.open("w") as stream:
        for user_id, item_id, weight, timestamp in zip(
            interactions.user_ids.tolist(),
            interactions.item_ids.tolist(),
            interactions.weights.tolist(),
            interactions.timestamps.tolist(),
            strict=True,
        ):
            row = {"user_id": user_id, "item_id": item_id, "weight": weight, "timestamp": timestamp}
            stream.write(json.dumps(row) + "\n")
