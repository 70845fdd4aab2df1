"""The export's watermark: how far each source has been exported, and the file in progress.

It is a small JSON document stored at the destination itself (`_watermark.json`, next to the data
files), so it travels with the data it describes and needs no table in the shop's database:

    {"format": 1, "updated_at": "...",
     "streams": {"interactions": {"exported_to": 170, "pending": null},
                 "clicks": {"exported_to": 12,
                            "pending": {"name": "clicks-...", "first_id": 13, "last_id": 40,
                                        "since": null}}}}

`pending` is written before a data file is published and cleared after: a run that died in
between left the file's name and id range behind, and the next run writes exactly that range
under exactly that name again (replacing the object, never adding a second copy).

Names read back from the document are checked: a pending name must be exactly the name the export
gives its stream's id range (`data_file_name`), so an edited or forged watermark (`../x`, an
absolute path, another stream's file) stops the export instead of naming a file outside the
destination or replacing one it does not own.
"""

import math
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ..exceptions import ExportError

WATERMARK_NAME = "_watermark.json"  # a leading "_": model/train.py skips it like Hadoop's _SUCCESS
FORMAT = 1
FILE_FORMATS = ("jsonl", "csv")
STREAM_NAME = re.compile(r"[a-z][a-z0-9_]*")


def data_file_name(stream: str, first_id: int, last_id: int, file_format: str) -> str:
    """The name of the data file holding `stream`'s rows with ids first_id..last_id."""
    return f"{stream}-{first_id:012d}-{last_id:012d}.{file_format}"


def _checked_pending(stream: str, pending: "PendingFile") -> "PendingFile":
    if not 1 <= pending.first_id <= pending.last_id:
        raise ValueError(f"pending id range of {stream!r} is not 1 <= first <= last")
    if pending.since is not None and not math.isfinite(pending.since):
        raise ValueError(f"pending 'since' of {stream!r} is not a finite number")
    expected = {
        data_file_name(stream, pending.first_id, pending.last_id, file_format)
        for file_format in FILE_FORMATS
    }
    if pending.name not in expected:
        # Never echo the name: it may be anything, and the message goes to logs.
        raise ValueError(f"pending file of {stream!r} is not named for its stream and id range")
    return pending


@dataclass(frozen=True)
class PendingFile:
    """A data file planned (and perhaps published) but not yet counted in `exported_to`."""

    name: str
    first_id: int
    last_id: int
    since: float | None  # epoch seconds of --since when the file was planned


@dataclass(frozen=True)
class StreamMark:
    """Everything with an id up to `exported_to` is in published files."""

    exported_to: int = 0
    pending: PendingFile | None = None


@dataclass
class Watermark:
    """The marks of every source, keyed by stream name."""

    streams: dict[str, StreamMark] = field(default_factory=dict)

    def mark(self, stream: str) -> StreamMark:
        """The stream's mark (zero when it was never exported)."""
        return self.streams.get(stream, StreamMark())

    def planned(self, stream: str, pending: PendingFile) -> "Watermark":
        """A copy with `pending` recorded for `stream`."""
        return self._with(stream, replace(self.mark(stream), pending=pending))

    def committed(self, stream: str, exported_to: int) -> "Watermark":
        """A copy with `stream` exported up to `exported_to` and nothing pending."""
        return self._with(stream, StreamMark(exported_to=exported_to, pending=None))

    def positions(self) -> dict[str, int]:
        """{stream: exported_to}."""
        return {name: mark.exported_to for name, mark in sorted(self.streams.items())}

    def to_json(self) -> dict[str, Any]:
        """The stored document."""
        streams: dict[str, Any] = {}
        for name, mark in sorted(self.streams.items()):
            pending = mark.pending
            streams[name] = {
                "exported_to": mark.exported_to,
                "pending": None
                if pending is None
                else {
                    "name": pending.name,
                    "first_id": pending.first_id,
                    "last_id": pending.last_id,
                    "since": pending.since,
                },
            }
        return {
            "format": FORMAT,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "streams": streams,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any] | None) -> "Watermark":
        """Parse a stored document (None: a destination never exported to)."""
        if document is None:
            return cls()
        try:
            if document.get("format") != FORMAT:
                raise ValueError(f"unsupported format {document.get('format')!r}")
            streams = {}
            for name, raw in document["streams"].items():
                if not (isinstance(name, str) and STREAM_NAME.fullmatch(name)):
                    raise ValueError("a stream name is not a plain lowercase word")
                pending = raw.get("pending")
                exported_to = int(raw["exported_to"])
                if exported_to < 0:
                    raise ValueError(f"'exported_to' of {name!r} is negative")
                streams[name] = StreamMark(
                    exported_to=exported_to,
                    pending=None
                    if pending is None
                    else _checked_pending(
                        name,
                        PendingFile(
                            name=str(pending["name"]),
                            first_id=int(pending["first_id"]),
                            last_id=int(pending["last_id"]),
                            since=None if pending.get("since") is None else float(pending["since"]),
                        ),
                    ),
                )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            # Never guess a position: exporting from 0 again would duplicate everything.
            raise ExportError(
                f"{WATERMARK_NAME} cannot be read ({error}); fix or remove it by hand",
                retryable=False,
            ) from error
        return cls(streams)

    def _with(self, stream: str, mark: StreamMark) -> "Watermark":
        return Watermark({**self.streams, stream: mark})
