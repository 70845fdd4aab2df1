"""A log formatter for the bench servers: one JSON object per line with the app's `extra=` fields,
so a bench can read what the app itself measured (e.g. how long an endpoint call waited)."""

import json
import logging

FIELDS = ("endpoint", "reason", "error_class", "duration_ms", "breaker", "state", "scope")


class FieldsFormatter(logging.Formatter):
    """`{"logger": ..., "level": ..., "message": ..., <extra fields>}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line = {"logger": record.name, "level": record.levelname, "message": record.getMessage()}
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        return json.dumps(line, default=str)


def read_lines(path: str, offset: int = 0) -> list[dict]:
    """The JSON lines of `path` from byte `offset` on (none when the file does not exist)."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return [json.loads(raw) for raw in log.read().splitlines() if raw.strip()]
    except FileNotFoundError:
        return []
