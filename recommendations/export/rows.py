"""The rows an export holds, where they come from, and how they are written.

Rows are `user_id` (the user's pseudonym, never the primary key), `item_id` (the wire id),
`weight` and `timestamp` (seconds since the epoch): the format `model/train.py` reads. Two
sources feed them, each with ids that only grow, so an export can resume after the last one:

- `interactions`: the shop's interaction history from the catalog adapter
  (`interaction_chunks_after`, order lines in the demo), weighted by quantity;
- `clicks`: clicks on the widget recorded by the app (`models.Click`), weighted by
  EXPORT_CLICK_WEIGHT: a click says less about a taste than a purchase does.
"""

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from ..catalog import get_catalog
from ..exceptions import ExportError
from ..tracking.pseudonyms import pseudonym

FORMATS = ("jsonl", "csv")
COLUMNS = ("user_id", "item_id", "weight", "timestamp")
CSV_HEADER = ",".join(COLUMNS) + "\r\n"


@dataclass(frozen=True)
class RowChunk:
    """Rows in id order: ids (int64) and the four columns."""

    ids: np.ndarray
    user_ids: list[str]  # pseudonyms
    item_ids: list[str]
    weights: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, mask: np.ndarray) -> "RowChunk":
        """The rows where `mask` (booleans) is true."""
        indices = np.flatnonzero(mask).tolist()
        return RowChunk(
            ids=self.ids[mask],
            user_ids=[self.user_ids[i] for i in indices],
            item_ids=[self.item_ids[i] for i in indices],
            weights=self.weights[mask],
            timestamps=self.timestamps[mask],
        )


def interaction_rows(after_id: int, chunk_size: int) -> Iterator[RowChunk]:
    """The catalog's interactions after `after_id`, with user primary keys pseudonymised."""
    catalog = get_catalog()
    try:
        chunks = iter(catalog.interaction_chunks_after(after_id, chunk_size))
        first = next(chunks, None)
    except NotImplementedError as error:
        # The default adapter's: no export can read interactions until the shop's adapter has it.
        raise ExportError(
            f"The catalog adapter {type(catalog).__name__} yields no interactions: it does not "
            "implement interaction_chunks_after(), which the export reads (see "
            "recommendations.catalog.CatalogAdapter.interaction_chunks_after)",
            retryable=False,
        ) from error
    if first is None:
        return
    for keyed in itertools.chain([first], chunks):
        chunk = keyed.interactions
        # One keyed hash per distinct user in the chunk, not per row.
        distinct, inverse = np.unique(chunk.user_ids, return_inverse=True)
        names = [pseudonym(int(user_pk)) for user_pk in distinct.tolist()]
        yield RowChunk(
            ids=np.asarray(keyed.ids, dtype=np.int64),
            user_ids=[names[position] for position in inverse.tolist()],
            item_ids=[str(item_pk) for item_pk in chunk.item_ids.tolist()],
            weights=np.asarray(chunk.weights, dtype=np.float64),
            timestamps=np.asarray(chunk.timestamps, dtype=np.float64),
        )


def click_rows(after_id: int, chunk_size: int, weight: float) -> Iterator[RowChunk]:
    """Clicks of signed-in users after `after_id` (their pseudonym was recorded with the click)."""
    from ..models import Click

    last_pk = after_id
    while True:
        rows = list(
            Click.objects.filter(pk__gt=last_pk)
            .exclude(pseudonym="")
            .order_by("pk")
            .values_list("pk", "pseudonym", "item_id", "created_at")[:chunk_size]
        )
        if not rows:
            return
        last_pk = rows[-1][0]
        yield RowChunk(
            ids=np.array([row[0] for row in rows], dtype=np.int64),
            user_ids=[row[1] for row in rows],
            item_ids=[row[2] for row in rows],
            weights=np.full(len(rows), weight, dtype=np.float64),
            timestamps=np.array([_epoch(row[3]) for row in rows], dtype=np.float64),
        )


def format_lines(chunk: RowChunk, file_format: str) -> list[str]:
    """The chunk's rows as JSON Lines or CSV lines (no header)."""
    lines = []
    for user_id, item_id, weight, timestamp in zip(
        chunk.user_ids,
        chunk.item_ids,
        chunk.weights.tolist(),
        chunk.timestamps.tolist(),
        strict=True,
    ):
        weight_text = _number(weight, 6)
        time_text = _number(timestamp, 3)
        if file_format == "csv":
            lines.append(
                f"{_csv_field(user_id)},{_csv_field(item_id)},{weight_text},{time_text}\r\n"
            )
        else:
            lines.append(
                f'{{"user_id":{_json_string(user_id)},"item_id":{_json_string(item_id)},'
                f'"weight":{weight_text},"timestamp":{time_text}}}\n'
            )
    return lines


def _number(value: float, decimals: int) -> str:
    """A JSON/CSV number without float noise: 1.0 -> "1", 1714521600.25 -> "1714521600.25"."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _json_string(text: str) -> str:
    # Pseudonyms are hex and demo item ids digits: the fast path needs no escaping at all.
    if text.isalnum() and text.isascii():
        return f'"{text}"'
    return json.dumps(text)


def _csv_field(text: str) -> str:
    if any(character in text for character in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:  # USE_TZ=False shops store naive UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
