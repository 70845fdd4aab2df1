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
"""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .exceptions import ExportError

WATERMARK_NAME = "_watermark.json"  # a leading "_": model/train.py skips it like Hadoop's _SUCCESS
FORMAT = 1


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
                pending = raw.get("pending")
                streams[str(name)] = StreamMark(
                    exported_to=int(raw["exported_to"]),
                    pending=None
                    if pending is None
                    else PendingFile(
                        name=str(pending["name"]),
                        first_id=int(pending["first_id"]),
                        last_id=int(pending["last_id"]),
                        since=None if pending.get("since") is None else float(pending["since"]),
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
