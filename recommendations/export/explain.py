"""Why an export wrote less than a reader expects, in sentences for the command and the log.

A fresh shop's first export is often empty: its orders are younger than EXPORT_SETTLE_SECONDS, or
the catalog adapter yields no interactions at all. Both are said here, once, with what to do.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..conf import app_settings

if TYPE_CHECKING:
    from .run import ExportResult


def why_rows_wait(result: "ExportResult") -> list[str]:
    """One sentence per source with rows held back or with nothing at all to read."""
    lines = []
    for stream, held in result.held.items():
        counted = f"{held.rows} {stream} wait" if held.rows != 1 else f"1 {stream[:-1]} waits"
        lines.append(
            f"{counted} for the settle delay (EXPORT_SETTLE_SECONDS, {result.settle_seconds:g} s): "
            "a row younger than that, and every row recorded after it, waits for a later run. "
            f"A run exports the first of them from {_when(held.first_exportable_at)} and all of "
            f"them from {_when(held.all_exportable_at)}."
        )
    if result.nothing_after.get("interactions") == 0:
        lines.append(
            f"The catalog adapter ({app_settings.CATALOG}) yielded no interactions at all: the "
            "shop has no orders yet, or its interaction_chunks_after() returns none."
        )
    return lines


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
