"""Factories for the shop's models (tests/support/shop_models.py): plain functions with sensible defaults, overridable by keyword."""

from decimal import Decimal
from itertools import count
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.utils.text import slugify

from tests.support.shop_models import Category, Order, OrderLine, Product

PASSWORD = "demo-shop"
_numbers = count(1)


def make_category(**fields: Any) -> Category:
    """A saved category with a unique name."""
    number = next(_numbers)
    fields.setdefault("name", f"Category {number}")
    fields.setdefault("slug", slugify(fields["name"]))
    return Category.objects.create(**fields)


def make_product(**fields: Any) -> Product:
    """A saved, active, in-stock product (in a new category unless one is given)."""
    number = next(_numbers)
    fields.setdefault("name", f"Test Product {number}")
    fields.setdefault("slug", slugify(fields["name"]))
    fields.setdefault("price", Decimal("12.50"))
    fields.setdefault("stock", 10)
    if "category" not in fields and "category_id" not in fields:
        fields["category"] = make_category()
    return Product.objects.create(**fields)


def make_customer(**fields: Any) -> AbstractUser:
    """A saved customer who can log in with PASSWORD."""
    fields.setdefault("username", f"shopper{next(_numbers)}")
    password = fields.pop("password", PASSWORD)
    return get_user_model().objects.create_user(password=password, **fields)


def make_order(
    user: AbstractUser, products: list[Product], quantity: int = 1, **fields: Any
) -> Order:
    """A saved order of `quantity` of each product, with its total (stock is not touched)."""
    order = Order.objects.create(user=user, **fields)
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, quantity=quantity, unit_price=product.price)
        for product in products
    )
    order.total = sum((product.price * quantity for product in products), Decimal("0"))
    order.save(update_fields=["total"])
    return order
