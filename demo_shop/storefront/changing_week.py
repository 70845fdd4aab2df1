"""The pieces of `manage.py simulate_week`: a catalogue that changes, a day's events moved to their
day, and the quality alarms judged on the week's daily values (docs/operations.md, "A simulated
changing week").
"""

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F

from demo_shop.catalog.models import Category, Product
from model.aws.deploy.alarm_evaluation import alarm_state
from model.aws.deploy.quality_alarms import quality_alarm_calls
from model.aws.deploy.spec import QualityAlarms
from recommendations.models import Click, EngagementEvent, Impression

UPDATE_CHUNK = 500  # ids per UPDATE ... WHERE IN (SQLite limits the number of parameters)
NEW_STOCK = 50


def add_products(count: int, day_number: int, rng: random.Random) -> list[Product]:
    """`count` new products in categories that still have products on sale."""
    categories = list(
        Category.objects.filter(products__is_active=True, products__stock__gt=0).distinct()
    )
    created = []
    for number in range(1, count + 1):
        category = rng.choice(categories)
        name = f"New {category.name} {day_number}-{number}"
        created.append(
            Product.objects.create(
                category=category,
                name=name,
                slug=f"week-day{day_number}-{number}-{category.slug}",
                description=f"New in the shop on day {day_number} of the simulated week.",
                price=Decimal(rng.randrange(500, 9000)) / 100,
                stock=NEW_STOCK,
            )
        )
    return created


def drop_category(category: Category) -> int:
    """Take every product of `category` off sale; how many were on sale."""
    return Product.objects.filter(category=category, is_active=True).update(is_active=False)


def category_to_drop() -> Category:
    """The category with the most products on sale (the drop most likely to be seen)."""
    return (
        Category.objects.filter(products__is_active=True, products__stock__gt=0)
        .annotate(on_sale=Count("products"))
        .order_by("-on_sale", "pk")
        .first()
    )


def move_back(request_ids: Iterable[str], since: datetime, shift: timedelta) -> None:
    """Move a run's impressions and clicks (by request id) and its engagement events (written
    since `since`) back by `shift`."""
    ids = list(request_ids)
    for start in range(0, len(ids), UPDATE_CHUNK):
        chunk = ids[start : start + UPDATE_CHUNK]
        Impression.objects.filter(request_id__in=chunk).update(created_at=F("created_at") - shift)
        Click.objects.filter(impression_request_id__in=chunk).update(
            created_at=F("created_at") - shift
        )
    EngagementEvent.objects.filter(created_at__gte=since).update(created_at=F("created_at") - shift)


@dataclass
class AlarmJudge:
    """The deploy tool's quality alarms for one model version, judged on daily values as
    CloudWatch would judge them (model/aws/deploy/alarm_evaluation.py)."""

    model_version: str
    max_age_days: float
    max_drift: float = QualityAlarms.max_drift
    min_lift: float = QualityAlarms.min_lift
    lift_days: int = QualityAlarms.lift_days
    series: dict[str, list[float | None]] = field(default_factory=dict)

    def alarms(self) -> list[dict[str, Any]]:
        """PutMetricAlarm's parameters of the three quality alarms, as `model.deploy` makes them."""
        quality = QualityAlarms(
            namespace="simulated",
            model_version=self.model_version,
            min_lift=self.min_lift,
            lift_days=self.lift_days,
            max_drift=self.max_drift,
            max_age_days=self.max_age_days,
        )
        return [call.params for call in quality_alarm_calls("shop", "AllTraffic", quality, None)]

    def add_day(self, values: dict[str, float | None]) -> None:
        """One day's published values by metric name (None: nothing published that day)."""
        for alarm in self.alarms():
            name = alarm["MetricName"]
            self.series.setdefault(name, []).append(values.get(name))

    def states(self) -> list[tuple[dict[str, Any], str]]:
        """Each alarm with its state after the days added so far."""
        return [
            (alarm, alarm_state(alarm, self.series.get(alarm["MetricName"], [])))
            for alarm in self.alarms()
        ]
