"""Export what is new in the interaction history (pseudonymised) as training data for model/train.py."""

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from recommendations.exceptions import ExportError
from recommendations.export.explain import why_rows_wait
from recommendations.export.rows import FORMATS
from recommendations.export.run import export_exclusive


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is UTC."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"--since {text!r} is not an ISO 8601 date or date-time")
        moment = datetime(day.year, day.month, day.day)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Write the interactions (order lines and widget clicks) recorded since the last export "
        "into a folder or s3://bucket/prefix, as files named by id range, with a watermark."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, help="a folder, or s3://bucket/prefix")
        parser.add_argument("--format", choices=FORMATS, default="jsonl")
        parser.add_argument(
            "--since",
            help="leave out interactions before this ISO 8601 date or date-time",
        )
        parser.add_argument("--chunk-size", type=int, default=None, help="rows per database query")
        parser.add_argument(
            "--settle-seconds",
            type=float,
            default=None,
            help="hold back order lines younger than this (default: EXPORT_SETTLE_SECONDS); "
            "0 is safe only when nothing else is writing orders",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = parse_since(options["since"]) if options["since"] else None
        try:
            result = export_exclusive(
                options["to"],
                file_format=options["format"],
                since=since,
                chunk_size=options["chunk_size"],
                settle_seconds=options["settle_seconds"],
            )
        except ExportError as error:
            raise CommandError(str(error)) from error
        if result is None:
            self.stdout.write(
                self.style.WARNING(f"Another export to {options['to']} is running; nothing done.")
            )
            return
        positions = ", ".join(f"{name} {last}" for name, last in result.watermark.items())
        up_to = f" (up to {positions})" if positions else ""  # nothing was ever exported there
        if not result.files:
            self.stdout.write(f"Nothing new to export to {result.destination}{up_to}.")
        else:
            for exported in result.files:
                self.stdout.write(f"  {exported.name}: {exported.rows} rows")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Exported {result.rows('interactions')} interactions and "
                    f"{result.rows('clicks')} clicks to {result.destination}{up_to}."
                )
            )
        for line in why_rows_wait(result):
            self.stdout.write(self.style.NOTICE(line))
