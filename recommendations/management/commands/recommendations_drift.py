"""Load a drift baseline and compute a day's drift figures per model version, as compute_drift does."""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommendations.drift.baseline import BaselineError, load_baseline
from recommendations.drift.daily import compute_drift, over_thresholds


class Command(BaseCommand):
    help = (
        "Load the training baseline of a model version (a path or s3:// URI; DRIFT_BASELINE by "
        "default) and compare a day's model impressions with it; prints the figures."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--baseline", help="drift_baseline.json.gz: a path or s3:// URI")
        parser.add_argument("--day", help="YYYY-MM-DD, the shop's day (default: yesterday)")
        parser.add_argument(
            "--load-only", action="store_true", help="load the baseline, compute nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["baseline"]:
            try:
                stored = load_baseline(options["baseline"])
            except BaselineError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(
                f"loaded the baseline of {stored.model_version}: {stored.items} items, "
                f"events {stored.min_timestamp:%Y-%m-%d} to {stored.max_timestamp:%Y-%m-%d}"
            )
        if options["load_only"]:
            return
        try:
            day = date.fromisoformat(options["day"]) if options["day"] else None
        except ValueError:
            raise CommandError(f"--day {options['day']!r} is not YYYY-MM-DD") from None
        rows = compute_drift(day)
        if not rows:
            self.stdout.write("no model impressions with a loaded baseline on that day")
            return
        self.stdout.write(
            f"{'day':<10}  {'model version':<24}  {'popularity':>10}  {'history':>8}  "
            f"{'unseen':>7}  {'age (d)':>7}  {'items':>6}  {'viewers':>7}"
        )
        for row in rows:
            over = over_thresholds(row)
            self.stdout.write(
                f"{row.day}  {row.model_version[:24]:<24}  {_figure(row.item_popularity):>10}  "
                f"{_figure(row.history_length):>8}  {_figure(row.unseen_product_share):>7}  "
                f"{row.model_age_days:>7.1f}  {row.recommended_items:>6}  {row.viewers:>7}"
                + (self.style.WARNING(f"  over: {', '.join(over)}") if over else "")
            )


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
