"""Writing the demo data set to the database, and removing it again."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, reset_queries, transaction
from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, pre_delete

from demo_shop.catalog.models import Category, Product
from demo_shop.orders.models import Order, OrderLine

from .demo_data import DemoData, DemoParameters
from .models import DemoSeed

SEEDED_USERNAME_PREFIX = "customer"  # customer1 ... customerN
SEEDED_USERNAME_REGEX = rf"^{SEEDED_USERNAME_PREFIX}[0-9]+$"
ADMIN_USERNAME = "admin"
BATCH_SIZE = 5_000  # rows per bulk_create round trip: bounded memory, few statements


@dataclass(frozen=True)
class SeedSummary:
    """What seed_demo wrote."""

    categories: int
    products: int
    customers: int
    orders: int
    lines: int
    admin_created: bool
    seconds: float


def seeded_customers() -> QuerySet:
    """The users seed_demo made (customer1 ... customerN)."""
    return get_user_model().objects.filter(username__regex=SEEDED_USERNAME_REGEX)


def existing_shop_data() -> dict[str, int]:
    """Counts of the shop data already in the database, only the kinds that are present."""
    counts = {
        "categories": Category.objects.count(),
        "products": Product.objects.count(),
        "orders": Order.objects.count(),
        "demo customers": seeded_customers().count(),
    }
    return {kind: count for kind, count in counts.items() if count}


def reset_shop_data() -> None:
    """Delete orders, the catalog and the seeded customers (other users, such as admin, stay)."""
    emptied: set[type[Model]] = set()
    with transaction.atomic():
        # Children first: order lines protect their products from deletion.
        for model in (OrderLine, Order, Product, Category):
            _delete_all(model, emptied)
            emptied.add(model)
        seeded_customers().delete()
        DemoSeed.objects.all().delete()


def _delete_all(model: type[Model], emptied: set[type[Model]]) -> None:
    """Delete every row of `model`, in one statement when nothing else can be affected."""
    others = [rel for rel in model._meta.related_objects if rel.related_model not in emptied]
    listened = pre_delete.has_listeners(model) or post_delete.has_listeners(model)
    if others or listened:
        model.objects.all().delete()
        return
    # Django's delete() would load every order to cascade into the (already empty) lines:
    # about 40s for a million lines on SQLite, against well under a second for this.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608


def _euros(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _datetimes(now: datetime, seconds_ago: np.ndarray) -> list[datetime]:
    # Exact whole seconds before `now`: two runs with the same seed differ only by their `now`.
    return [now - timedelta(seconds=seconds) for seconds in seconds_ago.tolist()]


def load(
    data: DemoData,
    now: datetime,
    password: str,
    progress: Callable[[str], None] = lambda message: None,
    parameters: DemoParameters | None = None,
) -> SeedSummary:
    """Write `data` in one transaction; all seeded users (and a missing admin) get `password`.

    With `parameters` (those that generated `data`), they are recorded for simulate_shoppers.
    """
    started = time.monotonic()
    # One hash for everyone: hashing thousands of passwords one by one would take minutes.
    encoded_password = make_password(password)
    with transaction.atomic():
        product_pks = _load_catalog(data)
        progress(f"{len(product_pks)} products in {len(data.categories)} categories")
        customer_pks = _load_customers(data, now, encoded_password)
        admin_created = _ensure_admin(encoded_password)
        progress(f"{len(customer_pks)} customers")
        orders = _load_orders(data, now, product_pks, customer_pks, progress)
        if parameters is not None:
            DemoSeed.objects.create(parameters=parameters.as_record())
    summary = SeedSummary(
        categories=len(data.categories),
        products=len(product_pks),
        customers=len(customer_pks),
        orders=orders,
        lines=len(data.line_product),
        admin_created=admin_created,
        seconds=time.monotonic() - started,
    )
    return summary


def _load_catalog(data: DemoData) -> np.ndarray:
    categories = Category.objects.bulk_create(
        Category(name=row.name, slug=row.slug, hue=row.hue) for row in data.categories
    )
    category_pks = [category.pk for category in categories]
    products = [
        Product(
            category_id=category_pks[category],
            name=name,
            slug=slug,
            description=description,
            price=_euros(cents),
            stock=stock,
            is_active=active,
        )
        for name, slug, description, category, cents, stock, active in zip(
            data.product_names,
            data.product_slugs,
            data.product_descriptions,
            data.product_category.tolist(),
            data.product_price_cents.tolist(),
            data.product_stock.tolist(),
            data.product_active.tolist(),
            strict=True,
        )
    ]
    Product.objects.bulk_create(products, batch_size=BATCH_SIZE)
    return np.array([product.pk for product in products], dtype=np.int64)


def _load_customers(data: DemoData, now: datetime, encoded_password: str) -> np.ndarray:
    user_model = get_user_model()
    joined = _datetimes(now, data.customer_joined_seconds_ago)
    pks: list[int] = []
    for start in range(0, len(joined), BATCH_SIZE):
        users = [
            user_model(
                username=f"{SEEDED_USERNAME_PREFIX}{number}",
                email=f"customer{number}@example.com",
                password=encoded_password,
                date_joined=joined[number - 1],
            )
            for number in range(start + 1, min(start + BATCH_SIZE, len(joined)) + 1)
        ]
        user_model.objects.bulk_create(users)
        pks.extend(user.pk for user in users)
    return np.array(pks, dtype=np.int64)


def _ensure_admin(encoded_password: str) -> bool:
    """Create the demo superuser unless a user called admin exists already (left untouched)."""
    user_model = get_user_model()
    if user_model.objects.filter(username=ADMIN_USERNAME).exists():
        return False
    user_model.objects.create(
        username=ADMIN_USERNAME,
        email="admin@example.com",
        password=encoded_password,
        is_staff=True,
        is_superuser=True,
    )
    return True


def _load_orders(
    data: DemoData,
    now: datetime,
    product_pks: np.ndarray,
    customer_pks: np.ndarray,
    progress: Callable[[str], None],
) -> int:
    order_count = len(data.order_customer)
    totals = data.order_total_cents().tolist()
    order_users = customer_pks[data.order_customer].tolist()
    # Lines only carry indices until their order has a primary key.
    line_products = product_pks[data.line_product].tolist()
    line_quantities = data.line_quantity.tolist()
    prices = [_euros(cents) for cents in data.product_price_cents.tolist()]
    line_prices = [prices[index] for index in data.line_product.tolist()]
    first_line = data.order_first_line.tolist()
    reported = 0
    for start in range(0, order_count, BATCH_SIZE):
        stop = min(start + BATCH_SIZE, order_count)
        created = _datetimes(now, data.order_seconds_ago[start:stop])
        orders = [
            Order(user_id=user, created_at=at, total=_euros(total))
            for user, at, total in zip(
                order_users[start:stop], created, totals[start:stop], strict=True
            )
        ]
        Order.objects.bulk_create(orders)
        lines = []
        for offset, order in enumerate(orders):
            pk = order.pk
            for line in range(first_line[start + offset], first_line[start + offset + 1]):
                lines.append(
                    OrderLine(
                        order_id=pk,
                        product_id=line_products[line],
                        quantity=line_quantities[line],
                        unit_price=line_prices[line],
                    )
                )
        OrderLine.objects.bulk_create(lines)
        # With DEBUG on Django keeps the last 9,000 statements: megabytes each for these batches.
        reset_queries()
        if first_line[stop] - reported >= 100_000 or stop == order_count:
            reported = first_line[stop]
            progress(f"{reported:,} of {len(line_products):,} order lines")
    return order_count
