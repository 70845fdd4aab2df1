"""Export the interaction history (pseudonymised) as training data for model/train.py."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recommendations.export import FORMATS, export_interactions


class Command(BaseCommand):
    help = "Write interactions.jsonl (or .csv) with pseudonymous user ids into a folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, help="folder to write into")
        parser.add_argument("--format", choices=FORMATS, default="jsonl")
        parser.add_argument(
            "--chunk-size", type=int, default=100_000, help="rows per database query"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = export_interactions(
            options["to"], file_format=options["format"], chunk_size=options["chunk_size"]
        )
        self.stdout.write(
            self.style.SUCCESS(f"Exported {result.rows} interactions to {result.path}")
        )
