"""manage.py seed_demo: fill the demo shop with a believable, reproducible data set."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from demo_shop.storefront.demo_data import DemoDataError, DemoParameters, generate
from demo_shop.storefront.demo_loader import (
    ADMIN_USERNAME,
    existing_shop_data,
    load,
    reset_shop_data,
)

DEFAULTS = DemoParameters()
# How customers behave (docs/demo-data.md): each becomes --name-with-dashes, default from DEFAULTS.
BEHAVIOUR = {
    "topic_size": "Products per latent taste (topic: products of a few categories).",
    "categories_per_topic": "Categories one topic draws its products from.",
    "second_topic_share": "Share of products that belong to a second topic.",
    "max_tastes": "A customer mixes 1..N topics.",
    "taste_share": "Share of lines from a customer's tastes (the rest by popularity).",
    "popularity_exponent": "Zipf exponent of item popularity (larger: a longer tail).",
    "repeat_share": "Chance a line buys again a consumable bought before.",
    "follow_up_share": "Share of products with a follow-up product.",
    "follow_up_rate": "Chance a buyer of such a product buys its follow-up in their next order.",
}


class Command(BaseCommand):
    help = (
        "Create demo categories, products, customers (customer1..N, password demo-shop) and "
        "orders drawn from latent tastes (docs/demo-data.md). Deterministic by --seed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=DEFAULTS.products)
        parser.add_argument("--categories", type=int, default=DEFAULTS.categories)
        parser.add_argument("--customers", type=int, default=DEFAULTS.customers)
        parser.add_argument("--lines", type=int, default=DEFAULTS.lines, help="Order lines.")
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Multiply customers and lines (33 gives about 1M order lines).",
        )
        parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
        for name, description in BEHAVIOUR.items():
            default = getattr(DEFAULTS, name)
            parser.add_argument(
                "--" + name.replace("_", "-"),
                type=type(default),
                default=default,
                help=f"{description} Default {default}.",
            )
        parser.add_argument(
            "--history-ends-days-ago",
            type=int,
            default=0,
            help="Place the orders so that the newest is this many days old (a shop whose model "
            "was trained that long ago: simulate_week). Default 0.",
        )
        parser.add_argument(
            "--reset", action="store_true", help="Delete the shop's data and demo customers first."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and succeed) when the shop already has data.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (the demo password is public).",
        )

    def _size(self, options: dict[str, Any]) -> DemoParameters:
        try:
            size = DemoParameters(
                products=options["products"],
                categories=options["categories"],
                customers=options["customers"],
                lines=options["lines"],
                seed=options["seed"],
                **{name: options[name] for name in BEHAVIOUR},
            )
            size.validate()
            size = size.scaled(options["scale"])
            size.validate()
        except DemoDataError as error:
            raise CommandError(str(error)) from error
        return size

    def _say(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(message)

    def _progress(self, message: str) -> None:
        self._say(f"  {message}")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off, so this looks like a real deployment: seed_demo creates users with "
                "a published password. Pass --force if you really want demo data here."
            )
        if options["reset"] and options["if_empty"]:
            raise CommandError("--reset and --if-empty contradict each other; pass one of them.")
        size = self._size(options)
        if options["history_ends_days_ago"] < 0:
            raise CommandError("--history-ends-days-ago must be 0 or more.")

        existing = existing_shop_data()
        if existing and options["if_empty"]:
            self._say("The shop already has data; nothing to do (--if-empty).")
            return
        if existing and not options["reset"]:
            found = ", ".join(f"{count} {kind}" for kind, count in existing.items())
            raise CommandError(
                f"The database already has shop data ({found}). "
                "Run with --reset to replace it, or --if-empty to keep it."
            )
        data = generate(size)
        # One transaction: a failed seed leaves the previous data in place.
        with transaction.atomic():
            if existing:
                self._say("Deleting the existing shop data ...")
                reset_shop_data()
            self._say(
                f"Seeding {size.products} products, {size.customers} customers and "
                f"{size.lines:,} order lines (seed {size.seed}) ..."
            )
            summary = load(
                data,
                timezone.now() - timedelta(days=options["history_ends_days_ago"]),
                settings.DEMO_PASSWORD,
                progress=self._progress,
                parameters=size,
            )

        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {summary.categories} categories, {summary.products} products, "
                f"{summary.customers} customers, {summary.orders:,} orders and "
                f"{summary.lines:,} order lines in {summary.seconds:.1f}s."
            )
        )
        self.stdout.write(
            f"Demo login: customer1 ... customer{summary.customers}, password {settings.DEMO_PASSWORD}"
        )
        if summary.admin_created:
            self.stdout.write(f"Admin login: {ADMIN_USERNAME}, password {settings.DEMO_PASSWORD}")
        else:
            self.stdout.write(f"Admin login: {ADMIN_USERNAME} existed already; password unchanged.")
