"""`manage.py recommendations_export`: the shop's orders as training data for model/train.py."""

import csv
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from demo_shop.catalog.models import Category, Product
from demo_shop.orders.models import Order, OrderLine
from model.data import read_interactions
from model.fitting import TrainingParams, fit
from recommendations.pseudonyms import pseudonym

pytestmark = pytest.mark.django_db

BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def orders():
    """Three customers, four products, five orders: the expected rows, oldest first."""
    category = Category.objects.create(name="Tea", slug="tea")
    products = [
        Product.objects.create(
            category=category, name=f"Tea {n}", slug=f"tea-{n}", price=Decimal("3.50"), stock=10
        )
        for n in range(4)
    ]
    users = [get_user_model().objects.create_user(f"customer{n}", password="x") for n in range(3)]
    plan = [
        (users[0], 0, [(products[0], 1), (products[1], 2)]),
        (users[1], 1, [(products[1], 1)]),
        (users[0], 2, [(products[2], 3)]),
        (users[2], 3, [(products[0], 1), (products[3], 1)]),
        (users[1], 4, [(products[2], 1)]),
    ]
    expected = []
    for user, days, lines in plan:
        created_at = BASE + timedelta(days=days, seconds=0.25)
        order = Order.objects.create(user=user, created_at=created_at)
        for product, quantity in lines:
            OrderLine.objects.create(
                order=order, product=product, quantity=quantity, unit_price=product.price
            )
            expected.append(
                {
                    "user_id": pseudonym(user.pk),
                    "item_id": str(product.pk),
                    "weight": quantity,
                    "timestamp": created_at.timestamp(),
                }
            )
    return users, expected


def test_export_writes_pseudonymous_jsonl(tmp_path, orders, capsys):
    users, expected = orders
    call_command("recommendations_export", "--to", str(tmp_path))
    path = tmp_path / "interactions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(rows, key=lambda r: (r["timestamp"], r["item_id"])) == sorted(
        expected, key=lambda r: (r["timestamp"], r["item_id"])
    )
    # Only pseudonyms leave: no primary key or username of a customer.
    assert {r["user_id"] for r in rows}.isdisjoint({str(u.pk) for u in users})
    assert not any(user.username in path.read_text() for user in users)
    assert f"Exported {len(expected)} interactions" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["interactions.jsonl"]  # no partial file left


def test_csv_export_has_the_same_rows(tmp_path, orders):
    _, expected = orders
    call_command("recommendations_export", "--to", str(tmp_path), "--format", "csv")
    with (tmp_path / "interactions.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [list(r) for r in rows[:1]] == [["user_id", "item_id", "weight", "timestamp"]]
    assert sorted(
        (r["user_id"], r["item_id"], float(r["weight"]), float(r["timestamp"])) for r in rows
    ) == sorted((r["user_id"], r["item_id"], r["weight"], r["timestamp"]) for r in expected)


def test_small_chunks_give_the_same_file(tmp_path, orders):
    call_command("recommendations_export", "--to", str(tmp_path / "big"))
    call_command("recommendations_export", "--to", str(tmp_path / "small"), "--chunk-size", "2")
    assert (tmp_path / "big" / "interactions.jsonl").read_text() == (
        tmp_path / "small" / "interactions.jsonl"
    ).read_text()


def test_empty_shop_exports_an_empty_file(tmp_path):
    call_command("recommendations_export", "--to", str(tmp_path))
    assert (tmp_path / "interactions.jsonl").read_text() == ""


def test_training_reads_the_export_and_knows_the_customers(tmp_path, orders):
    users, _ = orders
    call_command("recommendations_export", "--to", str(tmp_path))
    model = fit(read_interactions(tmp_path), TrainingParams(factors=4, iterations=3))
    assert all(model.knows_user(pseudonym(user.pk)) for user in users)
    assert not model.knows_user(str(users[0].pk))
