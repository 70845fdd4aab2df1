"""`manage.py recommendations_refresh_fallback`: recompute the local fallback ranking now."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommendations.fallback import store


class Command(BaseCommand):
    help = "Recompute the local fallback ranking (popularity and co-purchase neighbours) now."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw a progress bar (for logs)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        show = not options["no_progress"] and options["verbosity"] > 0
        with tqdm(
            desc="interaction lines", unit=" lines", unit_scale=True, disable=not show
        ) as bar:
            version = store.refresh_exclusive(progress=bar.update)
        if version is None:
            raise CommandError("Another refresh of the fallback ranking is running; try later.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Fallback version {version.pk}: {version.interactions} lines, "
                f"{version.users} users, {version.items} items in {version.duration_ms} ms."
            )
        )
