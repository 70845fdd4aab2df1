"""manage.py simulate_shoppers: seeded customers visit the home page and click by their tastes."""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import F

from demo_shop.storefront.demo_loader import seeded_customers
from demo_shop.storefront.shoppers import ClickModel, Simulation, simulate
from recommendations import events, stats
from recommendations.backends.base import get_backend
from recommendations.conf import app_settings
from recommendations.models import Click, Impression
from recommendations.report import build_report

DEFAULTS = ClickModel()
TARGET_LIFT = 0.5  # the story's claim: the widget raises engagement by 50%
UPDATE_CHUNK = 500  # ids per UPDATE ... WHERE IN (SQLite limits the number of parameters)


class Command(BaseCommand):
    help = (
        "Synthetic visits by the seeded customers (customer1..N) to the home page, through the "
        "real stack; each clicks widget items by taste. Then flushes the events and prints the "
        "model's lift over the holdout with its 95% interval."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--visits", type=int, required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--customers", type=int, default=0, help="Only the first N customers (0: all)."
        )
        parser.add_argument(
            "--days",
            type=int,
            default=1,
            help="Spread the visits' events over the last N days (backdated), for the daily chart.",
        )
        parser.add_argument("--base-rate", type=float, default=DEFAULTS.base_rate)
        parser.add_argument("--taste-rate", type=float, default=DEFAULTS.taste_rate)
        parser.add_argument("--position-decay", type=float, default=DEFAULTS.position_decay)

    def handle(self, *args: Any, **options: Any) -> None:
        if not app_settings.TRACKING:
            raise CommandError(
                "RECOMMENDATIONS['TRACKING'] is off, so nothing would be measured. "
                "Set RECOMMENDATIONS_TRACKING=true (the demo's default)."
            )
        if options["visits"] < 1 or options["days"] < 1:
            raise CommandError("--visits and --days must be at least 1.")
        customers = list(seeded_customers().order_by("pk"))
        if options["customers"]:
            customers = customers[: options["customers"]]
        if not customers:
            raise CommandError("No seeded customers: run `manage.py seed_demo` first.")
        model = ClickModel(
            base_rate=options["base_rate"],
            taste_rate=options["taste_rate"],
            position_decay=options["position_decay"],
        )
        # Build the endpoint client first: a process's first page is otherwise served by the
        # fallback while the client is built in the background ("client_warming").
        get_backend().warm_up()
        step = max(1, options["visits"] // 10)

        def progress(done: int) -> None:
            if options["verbosity"] >= 1 and (done % step == 0 or done == options["visits"]):
                self.stdout.write(f"  {done} visits")

        simulation = simulate(customers, options["visits"], options["seed"], model, progress)
        flushed = events.write_buffered()
        if options["days"] > 1:
            backdate(simulation, options["days"])
        self.stdout.write(
            f"{len(simulation.visits)} visits by {len(customers)} customers: "
            f"{simulation.widgets} widgets, {simulation.clicks} clicks; "
            f"flushed {flushed.impressions} impressions and {flushed.clicks} clicks "
            f"(events dropped so far: {events.dropped_total()})."
        )
        self.print_report(options["days"])

    def print_report(self, days: int) -> None:
        report = build_report(days=days)
        for arm, counts in report.by_arm.items():
            self.stdout.write(
                f"  {arm:<10} {counts.impressions:>7} impressions {counts.clicked:>6} clicked  "
                f"CTR {percent(counts.ctr)}"
            )
        for comparison in report.comparisons:
            line = f"  {comparison.treated} vs {comparison.reference}:"
            if comparison.difference is not None:
                d = comparison.difference
                line += (
                    f" difference {d.estimate * 100:+.2f} pp "
                    f"(95% CI {d.low * 100:+.2f} to {d.high * 100:+.2f} pp)"
                )
            if comparison.lift is not None:
                lift = comparison.lift
                line += f"; lift {lift.estimate:+.1%} (95% CI {lift.low:+.1%} to {lift.high:+.1%})"
                verdict = (
                    "supported"
                    if lift.low >= TARGET_LIFT
                    else "ruled out"
                    if lift.high < TARGET_LIFT
                    else "neither shown nor ruled out"
                )
                line += f"; a {TARGET_LIFT:.0%} lift is {verdict} at 95%"
            self.stdout.write(line)
        holdout = report.by_arm.get("holdout")
        if holdout and holdout.ctr and 0 < holdout.ctr * (1 + TARGET_LIFT) < 1:
            needed = stats.impressions_needed(holdout.ctr, TARGET_LIFT)
            self.stdout.write(
                f"  impressions per arm to detect a {TARGET_LIFT:.0%} lift over a "
                f"{percent(holdout.ctr)} CTR (95%, power 80%): {needed}"
            )
        self.stdout.write(
            f"  model arms served by the fallback: {percent(report.fallback_rate)}"
            + (
                " (" + ", ".join(f"{r} {n}" for r, n in report.fallback_reasons) + ")"
                if report.fallback_reasons
                else ""
            )
        )


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def backdate(simulation: Simulation, days: int) -> None:
    """Move the run's events back so that the visits spread evenly over the last `days` days."""
    by_offset: dict[int, list[str]] = {}
    total = len(simulation.visits)
    for index, visit in enumerate(simulation.visits):
        if visit.request_id:
            offset = days - 1 - index * days // total  # the first visits are the oldest
            by_offset.setdefault(offset, []).append(visit.request_id)
    for offset, request_ids in by_offset.items():
        if not offset:
            continue
        shift = timedelta(days=offset)
        for start in range(0, len(request_ids), UPDATE_CHUNK):
            chunk = request_ids[start : start + UPDATE_CHUNK]
            Impression.objects.filter(request_id__in=chunk).update(
                created_at=F("created_at") - shift
            )
            Click.objects.filter(impression_request_id__in=chunk).update(
                created_at=F("created_at") - shift
            )
