"""manage.py simulate_week: seven days of a shop whose catalogue changes under a model nobody
retrains, with the drift figures, the day's CTR by arm and the alarms that fire.

Start from a demo seeded with `seed_demo --history-ends-days-ago N`, trained (`make model`'s
steps) and served; docs/operations.md, "A simulated changing week", has the steps and a run.
"""

import random
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import override_settings

from demo_shop.catalog.models import Product
from demo_shop.storefront.arm_visits import ArmAwareVisit
from demo_shop.storefront.changing_week import (
    AlarmJudge,
    add_products,
    category_to_drop,
    drop_category,
    move_back,
)
from demo_shop.storefront.demo_loader import seeded_customers
from demo_shop.storefront.shoppers import ClickModel, simulate
from recommendations import checks
from recommendations.backends.base import get_backend
from recommendations.conf import app_settings
from recommendations.drift import daily
from recommendations.drift.baseline import BaselineError, load_baseline
from recommendations.models import DailyDrift
from recommendations.ops.cloudwatch import drift_metric_data, quality_metric_data
from recommendations.reporting.days import shop_day
from recommendations.reporting.quality import DayQuality, build_quality
from recommendations.reporting.report import build_report
from recommendations.reporting.rollups import roll_up_day
from recommendations.tasks import compute_drift
from recommendations.tracking import events

from .simulate_shoppers import control_share, percent


class Command(BaseCommand):
    help = (
        "Simulate the last --days days (ending yesterday) of a seeded, trained demo: each day "
        "adds new products (and one day takes a category off sale), the seeded customers shop "
        "(simulate_shoppers' click model), the day is rolled up and its drift computed; prints "
        "the drift figures, the day's CTR by arm, and the model-age check and quality alarms "
        "(judged as CloudWatch would judge them) that fire."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7)
        parser.add_argument("--visits-per-day", type=int, default=250)
        parser.add_argument("--new-products-per-day", type=int, default=10)
        parser.add_argument(
            "--drop-day",
            type=int,
            default=3,
            help="The day (1 = first) the category with the most products goes off sale; 0: none.",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--max-age-days",
            type=float,
            default=None,
            help="The model-age threshold of the check (MODEL_MAX_AGE_DAYS) and of the quality "
            "alarm (model.deploy --alarm-max-age-days); default: MODEL_MAX_AGE_DAYS.",
        )
        parser.add_argument(
            "--baseline", help="The model's drift_baseline.json.gz (default: DRIFT_BASELINE)."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (the week changes the catalogue for good).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off, so this looks like a real deployment: simulate_week adds products, "
                "takes a category off sale and fakes a week of visits. Pass --force if you really "
                "want that here."
            )
        if not app_settings.TRACKING:
            raise CommandError("RECOMMENDATIONS['TRACKING'] is off: nothing would be measured.")
        if options["days"] < 1 or options["visits_per_day"] < 1:
            raise CommandError("--days and --visits-per-day must be at least 1.")
        customers = list(seeded_customers().order_by("pk"))
        if not customers:
            raise CommandError("No seeded customers: run `manage.py seed_demo` first.")
        source = options["baseline"] or app_settings.DRIFT_BASELINE
        if not source:
            raise CommandError("No drift baseline: pass --baseline or set DRIFT_BASELINE.")
        try:
            baseline = load_baseline(source)
        except BaselineError as error:
            raise CommandError(str(error)) from error
        max_age = options["max_age_days"] or float(app_settings.MODEL_MAX_AGE_DAYS)
        configured = {**getattr(settings, "RECOMMENDATIONS", {}), "MODEL_MAX_AGE_DAYS": max_age}
        configured["DRIFT_BASELINE"] = source
        self.stdout.write(
            f"Model {baseline.model_version}: newest training event {baseline.max_timestamp:%Y-%m-%d %H:%M} "
            f"UTC; age threshold {max_age:g} days (check W010 and the quality-model-age alarm)."
        )
        with override_settings(RECOMMENDATIONS=configured):
            get_backend().warm_up()
            self.week(customers, options)

    def week(self, customers: list, options: dict[str, Any]) -> None:
        rng = random.Random(options["seed"])
        today = shop_day()
        first = today - timedelta(days=options["days"])
        judges: dict[str, AlarmJudge] = {}
        max_age = float(app_settings.MODEL_MAX_AGE_DAYS)
        for number in range(1, options["days"] + 1):
            day = first + timedelta(days=number - 1)
            changes = self.change_catalogue(number, options, rng)
            call_command("recommendations_refresh_fallback", verbosity=0, stdout=StringIO())
            started = datetime.now(tz=UTC)
            visit = ArmAwareVisit(ClickModel())
            with control_share(None, options["visits_per_day"]):
                run = simulate(
                    customers,
                    options["visits_per_day"],
                    options["seed"] * 1000 + number,
                    ClickModel(),
                    visit=visit,
                )
                events.write_buffered()
            move_back([v.request_id for v in run.visits if v.request_id], started, today - day)
            roll_up_day(day)
            compute_drift(day.isoformat())
            rows = list(DailyDrift.objects.filter(day=day).order_by("model_version"))
            report = build_report(days=1, today=day)
            quality = {
                row.model_version: row
                for rows in build_quality(day, day).series.values()
                for row in rows
            }
            on_sale = Product.objects.available().count()
            self.stdout.write(f"\nday {number} ({day}): {changes}; {on_sale} products on sale")
            self.stdout.write(
                f"  shoppers: {len(run.visits)} visits, {run.widgets} widgets, {run.clicks} widget clicks"
            )
            self.stdout.write(
                "  CTR by arm: "
                + ", ".join(
                    f"{arm} {percent(counts.ctr)} ({counts.clicked}/{counts.impressions})"
                    for arm, counts in report.by_arm.items()
                )
            )
            if not rows:
                self.stdout.write("  drift: no model impressions with a baseline on this day")
            for row in rows:
                # What compute_drift and compute_quality publish for the version that day.
                day_quality = quality.get(row.model_version)
                points = drift_metric_data([row])
                if day_quality is not None:
                    points += quality_metric_data([day_quality.figures()])
                published = {
                    p["MetricName"]: p["Value"]
                    for p in points
                    if not any(d["Name"] == "Reason" for d in p["Dimensions"])
                }
                judge = judges.setdefault(
                    row.model_version, AlarmJudge(row.model_version, max_age_days=max_age)
                )
                judge.add_day(published)
                self.stdout.write(
                    f"  drift of {row.model_version}: item popularity JS {fmt(row.item_popularity)}, "
                    f"history length JS {fmt(row.history_length)}, unseen products "
                    f"{percent(row.unseen_product_share)}, model age {row.model_age_days:.2f} days "
                    f"(DriftScore {fmt(published.get('DriftScore'))})"
                )
                if day_quality is not None:
                    self.stdout.write(
                        f"  quality of {row.model_version}: {quality_line(day_quality)}"
                    )
                crossed = (
                    [f"W010 rule: age {row.model_age_days:.2f} > MODEL_MAX_AGE_DAYS {max_age:g}"]
                    if row.model_age_days > max_age
                    else []
                )
                over = [n for n in daily.over_thresholds(row) if n != "model_age_days"]
                if over:
                    crossed.append("W011 rule: " + ", ".join(over))
                self.stdout.write("  check: " + ("; ".join(crossed) or "no warning"))
                self.stdout.write(
                    "  quality alarms: "
                    + ", ".join(
                        f"{alarm['AlarmName'].split('/')[-1]} {state}"
                        for alarm, state in judge.states()
                    )
                )
        self.stdout.write("\nmanage.py check --database default, now (the week's end):")
        warnings = checks.check_live_model_drift(databases=["default"])
        for warning in warnings:
            self.stdout.write(f"  {warning.id}: {warning.msg}")
        if not warnings:
            self.stdout.write("  no drift or model-age warning")

    def change_catalogue(self, number: int, options: dict[str, Any], rng: random.Random) -> str:
        """The day's catalogue changes, described."""
        said = []
        if options["new_products_per_day"]:
            added = add_products(options["new_products_per_day"], number, rng)
            said.append(f"{len(added)} new products")
        if number == options["drop_day"]:
            category = category_to_drop()
            said.append(f"{drop_category(category)} products of {category.name} off sale")
        return ", ".join(said) or "no catalogue change"


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def quality_line(row: DayQuality) -> str:
    """A day's quality figures of one version, as the admin report's table shows them."""

    def interval(value: object) -> str:
        if value is None:
            return "n/a"
        return f"{value.estimate:+.1%} [{value.low:+.1%}, {value.high:+.1%}]"

    def share(value: float | None) -> str:
        return "n/a" if value is None else percent(value)

    return (
        f"CTR {share(row.ctr)}, LiftVsHoldout {interval(row.lift_vs_holdout)}, engagement lift "
        f"{interval(row.engagement_lift)}, coverage {share(row.coverage)}, fallback "
        f"{share(row.fallback_share)}, stale items {share(row.stale_share)}, cold start "
        f"{share(row.cold_start_share)}"
    )
