"""A customer who bought more products than the model accepts in one request's `exclude`.

    heavy_db = copy_with_heavy_buyer(env, work_dir / "shop.sqlite3", user_id=first_customer)

The copy is the seeded shop plus HEAVY_PURCHASES inactive products (never shown, unknown to the
model) that `user_id` bought in one order: model/inference/protocol.py refuses an exclude list of more than
1,000 ids, so before the exclude bound every request of that customer failed.
"""

import shutil
from collections.abc import Mapping
from pathlib import Path

from .load import Summary, format_counter
from .shop import manage

HEAVY_PURCHASES = 1200
FIRST_PK = 1_000_001
HEAVY_VIEWS = 10  # the heavy buyer's page views before each round: twice BREAKER_FAILURES
# Share of the other customers' widgets that must show the model's items (the rest: timeouts on
# a loaded machine, users the model knows too little about).
HEALTHY_MODEL_SHARE = 0.9

_ADD_PURCHASES = """
from decimal import Decimal
from django.utils import timezone
from demo_shop.catalog.models import Category, Product
from demo_shop.orders.models import Order, OrderLine

category = Category.objects.create(name="Heavy archive", slug="heavy-archive")
products = Product.objects.bulk_create(
    Product(pk={first_pk} + n, category=category, name=f"Archived {{n}}",
            slug=f"heavy-archived-{{n}}", price=Decimal("1.00"), stock=0, is_active=False)
    for n in range({count})
)
order = Order.objects.create(user_id={user_id}, created_at=timezone.now())
OrderLine.objects.bulk_create(
    OrderLine(order=order, product=product, unit_price=product.price) for product in products
)
"""


def copy_with_heavy_buyer(env: Mapping[str, str], database: Path, *, user_id: int) -> Path:
    """A copy of the SQLite `database` in which customer `user_id` bought HEAVY_PURCHASES more
    products; returns its path (sessions made before the copy stay valid in it)."""
    from django.db import connections

    connections.close_all()  # nothing of this process's pending in the file being copied
    target = database.with_name(f"{database.stem}-heavy-buyer{database.suffix}")
    shutil.copyfile(database, target)
    code = _ADD_PURCHASES.format(first_pk=FIRST_PK, count=HEAVY_PURCHASES, user_id=int(user_id))
    manage({**env, "DATABASE_URL": f"sqlite:///{target}"}, "shell", "-c", code)
    return target


def breaker_openings(lines: list[dict]) -> int:
    """How many times the app logged a breaker opening."""
    return sum(
        1
        for line in lines
        if line["logger"] == "recommendations.backends.breaker" and line.get("state") == "open"
    )


def model_share(summary: Summary) -> float:
    """Share of the widgets that show the model's items (alone, or padded from the fallback)."""
    sources = summary.sources
    total = sum(sources.values())
    return (sources["model"] + sources["mixed"]) / total if total else float("nan")


def report_heavy_buyer(others: Summary, heavy: Summary, openings: int) -> int:
    """The heavy-buyer scenario's TARGET lines."""
    print(
        f"heavy buyer: {heavy.requests} own views, widget {format_counter(heavy.sources)}, "
        f"statuses {format_counter(heavy.statuses)}; other customers: widget "
        f"{format_counter(others.sources)}"
    )
    print(
        f"TARGET heavy_buyer_breaker_opened {openings} == 0 {'PASS' if openings == 0 else 'FAIL'}"
    )
    share = model_share(others)
    print(
        f"TARGET heavy_buyer_other_users_model_share {share:.3f} >= {HEALTHY_MODEL_SHARE} "
        f"{'PASS' if share >= HEALTHY_MODEL_SHARE else 'FAIL'}"
    )
    errors = heavy.failures
    print(
        f"TARGET heavy_buyer_own_views_server_errors {errors} == 0 {'PASS' if errors == 0 else 'FAIL'}"
    )
    return 0
