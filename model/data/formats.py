"""The public rating formats: `user item rating timestamp` lines, and CSV with named columns.

Ratings become implicit feedback: a row counts (weight 1) when its rating is at least the
threshold, and is dropped otherwise; without a threshold every row counts. Examples:
MovieLens 100k's `u.data` (tab separated), 1M's `ratings.dat` ("::" separated) and the newer
`ratings.csv` (`--format csv --columns user=userId,item=movieId,rating=rating,timestamp=timestamp`).
"""

import csv
from collections.abc import Iterator
from pathlib import Path

from .interactions import CSV_SUFFIXES, RATINGS_SUFFIXES, DataError, open_text, parse_timestamp

COLUMN_ROLES = ("user", "item", "rating", "timestamp", "weight")

Row = tuple[str, str, float, float]


def parse_columns(text: str) -> dict[str, str]:
    """`user=userId,item=movieId,...` as {role: column name}; user and item are required."""
    columns: dict[str, str] = {}
    for part in text.split(","):
        role, separator, name = part.partition("=")
        role, name = role.strip(), name.strip()
        if not separator or role not in COLUMN_ROLES or not name:
            raise ValueError(
                f"bad column mapping {part.strip()!r}: expected ROLE=NAME with ROLE one of "
                f"{', '.join(COLUMN_ROLES)}"
            )
        columns[role] = name
    missing = {"user", "item"} - set(columns)
    if missing:
        raise ValueError(f"column mapping lacks {', '.join(sorted(missing))}")
    return columns


def resolve_format(path: Path, file_format: str, columns: dict[str, str] | None) -> str:
    """The concrete format for `auto`: csv when columns are named, ratings by suffix, else ours."""
    if file_format != "auto":
        if file_format == "csv" and not columns:
            raise DataError("--format csv needs --columns (e.g. user=userId,item=movieId)")
        return file_format
    if columns:
        return "csv"
    if path.is_file() and path.name.endswith(RATINGS_SUFFIXES):
        return "ratings"
    return "interactions"


def read_ratings(file: Path, rating_threshold: float | None) -> Iterator[Row]:
    """Rows of a `user item rating [timestamp]` file: whitespace, tab, comma or "::" separated."""
    with open_text(file) as stream:
        for line_number, line in enumerate(stream, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = _split(text)
            try:
                if len(fields) < 3:
                    raise ValueError("expected user item rating [timestamp]")
                rating = float(fields[2])
                timestamp = parse_timestamp(fields[3]) if len(fields) > 3 else 0.0
            except ValueError as exc:
                if line_number == 1 and file.name.endswith(CSV_SUFFIXES):
                    continue  # a header line
                raise DataError(f"{file}:{line_number}: bad row ({exc})") from exc
            if rating_threshold is None or rating >= rating_threshold:
                yield fields[0], fields[1], 1.0, timestamp


def read_csv_columns(
    file: Path, columns: dict[str, str], rating_threshold: float | None
) -> Iterator[Row]:
    """Rows of a CSV file whose header names the columns in `columns` ({role: name})."""
    if rating_threshold is not None and "rating" not in columns:
        raise DataError("a rating threshold needs the rating column: add rating=NAME to --columns")
    with open_text(file) as stream:
        reader = csv.DictReader(stream)
        missing = set(columns.values()) - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{file}: header lacks {', '.join(sorted(missing))}")
        for line_number, record in enumerate(reader, start=2):
            try:
                user_id, item_id = record[columns["user"]], record[columns["item"]]
                if not user_id or not item_id:
                    raise ValueError("empty user or item")
                weight = float(record[columns["weight"]]) if "weight" in columns else 1.0
                timestamp = (
                    parse_timestamp(record[columns["timestamp"]]) if "timestamp" in columns else 0.0
                )
                rating = float(record[columns["rating"]]) if "rating" in columns else None
            except (TypeError, ValueError) as exc:
                raise DataError(f"{file}:{line_number}: bad row ({exc})") from exc
            if rating_threshold is not None and rating is not None and rating < rating_threshold:
                continue
            yield user_id, item_id, weight, timestamp


def _split(text: str) -> list[str]:
    if "::" in text:
        return [part.strip() for part in text.split("::")]
    if "," in text:
        return [part.strip() for part in text.split(",")]
    return text.split()
