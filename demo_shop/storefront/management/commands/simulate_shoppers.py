"""manage.py simulate_shoppers: seeded customers visit the home page and click what they would buy
next (the purchase generator's own chances, examined down the list: shoppers.ClickModel)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import F
from django.test import override_settings

from demo_shop.storefront.arm_visits import ArmAwareVisit, backdate_engagement
from demo_shop.storefront.demo_loader import seeded_customers
from demo_shop.storefront.shoppers import CLICK_MODELS, ClickModel, Simulation, simulate
from recommendations.backends.base import get_backend
from recommendations.conf import app_settings
from recommendations.models import Click, Impression
from recommendations.reporting import stats
from recommendations.reporting.engagement import build_engagement_report
from recommendations.reporting.report import build_report
from recommendations.tracking import events

DEFAULTS = ClickModel()
TARGET_LIFT = 0.5  # the story's claim: the widget raises engagement by 50%
UPDATE_CHUNK = 500  # ids per UPDATE ... WHERE IN (SQLite limits the number of parameters)


class Command(BaseCommand):
    help = (
        "Synthetic visits by the seeded customers (customer1..N) to the home page, through the "
        "real stack; each clicks widget items (or, without a click, the home page's new "
        "products) with the generator's chance that the item is their next purchase, less "
        "further down the list, and may add to the cart. Customers in the control arm see no "
        "widget. Then flushes the events and prints the model's lift over the holdout and the "
        "widget's lift over no widget, with their 95% intervals."
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
        parser.add_argument(
            "--click-model",
            choices=CLICK_MODELS,
            default=DEFAULTS.kind,
            help="next-purchase: the generator's chance that the item is the next purchase; "
            "topics: the older model, by topic fit (--base-rate, --taste-rate).",
        )
        parser.add_argument(
            "--position-decay",
            type=float,
            default=DEFAULTS.position_decay,
            help="Each place down a list multiplies the chance the shopper looks at it by this.",
        )
        parser.add_argument(
            "--base-rate",
            type=float,
            default=DEFAULTS.base_rate,
            help="topics: the chance of a click on an item that does not suit (fit 0).",
        )
        parser.add_argument(
            "--taste-rate",
            type=float,
            default=DEFAULTS.taste_rate,
            help="topics: the chance of a click on an item squarely in the tastes (fit 1).",
        )
        parser.add_argument(
            "--control-share",
            type=float,
            default=None,
            help="Share of customers who see no widget (default: RECOMMENDATIONS['CONTROL_SHARE']).",
        )
        parser.add_argument(
            "--cart-rate",
            type=float,
            default=0.3,
            help="Chance that a product page leads to an add-to-cart, in every arm.",
        )
        parser.add_argument(
            "--buy-rate",
            type=float,
            default=0.0,
            help="Chance that an add-to-cart leads to a checkout (real orders: off by default).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not app_settings.TRACKING:
            raise CommandError(
                "RECOMMENDATIONS['TRACKING'] is off, so nothing would be measured. "
                "Set RECOMMENDATIONS_TRACKING=true (the demo's default)."
            )
        if options["visits"] < 1 or options["days"] < 1:
            raise CommandError("--visits and --days must be at least 1.")
        for name in (
            "control_share",
            "cart_rate",
            "buy_rate",
            "position_decay",
            "base_rate",
            "taste_rate",
        ):
            value = options[name]
            if value is not None and not 0 <= value <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1.")
        customers = list(seeded_customers().order_by("pk"))
        if options["customers"]:
            customers = customers[: options["customers"]]
        if not customers:
            raise CommandError("No seeded customers: run `manage.py seed_demo` first.")
        model = ClickModel(
            kind=options["click_model"],
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

        if options["control_share"] is not None:
            others = float(app_settings.HOLDOUT_SHARE or 0)
            if app_settings.SECOND_VARIANT:
                others += float(app_settings.SECOND_VARIANT_SHARE or 0)
            if options["control_share"] + others > 1 + 1e-9:
                raise CommandError(
                    f"--control-share and the holdout and variant shares ({others}) add up to "
                    "more than 1."
                )
        arm_visits = ArmAwareVisit(
            model, cart_rate=options["cart_rate"], buy_rate=options["buy_rate"]
        )
        with control_share(options["control_share"], options["visits"]):
            simulation = simulate(
                customers, options["visits"], options["seed"], model, progress, visit=arm_visits
            )
        flushed = events.write_buffered()
        if options["days"] > 1:
            backdate(simulation, options["days"])
            backdate_engagement(arm_visits.started, options["days"])
        self.stdout.write(
            f"{len(simulation.visits)} visits by {len(customers)} customers: "
            f"{simulation.widgets} widgets, {simulation.clicks} clicks; "
            f"{arm_visits.arms.count('control')} visits without a widget; "
            f"{arm_visits.shelf_clicks} clicks on new products, {arm_visits.carts} added to "
            f"cart, {arm_visits.purchases} purchases; "
            f"flushed {flushed.impressions} impressions, {flushed.clicks} clicks and "
            f"{flushed.engagements} engagement events "
            f"(events dropped so far: {events.dropped_total()})."
        )
        self.print_report(options["days"])
        self.print_engagement(options["days"])

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

    def print_engagement(self, days: int) -> None:
        """The widget against no widget: engaged visits per arm and the lifts."""
        report = build_engagement_report(days=days)
        for arm, counts in report.by_arm.items():
            self.stdout.write(
                f"  {arm:<10} {counts.visits:>7} visits  "
                + "  ".join(f"{action} {percent(counts.rate(action))}" for action in counts.engaged)
            )
        if not report.has_comparison:
            self.stdout.write(
                "  widget vs no widget: no visits in the control arm or the widget arms"
            )
            return
        for lift in report.lifts:
            line = (
                f"  widget vs no widget, visits with {lift.action}: "
                f"{percent(lift.widget_rate)} vs {percent(lift.control_rate)}"
            )
            if lift.lift is not None:
                line += (
                    f"; lift {lift.lift.estimate:+.1%} "
                    f"(95% CI {lift.lift.low:+.1%} to {lift.lift.high:+.1%}); "
                    f"a {report.target_lift:.0%} lift is {lift.verdict} at 95%"
                )
            if lift.visits_needed is not None:
                line += (
                    f"; {lift.visits_needed} visits per arm detect a {report.target_lift:.0%} lift"
                )
            self.stdout.write(line)


def control_share(share: float | None, visits: int) -> Any:
    """A context in which RECOMMENDATIONS['CONTROL_SHARE'] is `share` (None: as configured) and
    the run's events stay in this process until the command writes them (no worker needed)."""
    configured = dict(getattr(settings, "RECOMMENDATIONS", {}))
    if share is not None:
        configured["CONTROL_SHARE"] = share
    # Each visit records at most an impression, a click and a few engagement events.
    kept = max(int(configured.get("EVENT_BUFFER_MAX", 0) or 0), 10 * visits + 100)
    configured.update(
        EVENT_BATCH_SIZE=kept, EVENT_BUFFER_MAX=kept, EVENT_FLUSH_INTERVAL=24 * 3600.0
    )
    return override_settings(RECOMMENDATIONS=configured)


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
