"""A tiny hand-made shop history for the fallback tests, written through the shop's models."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model

from tests.support.shop_models import Category, Order, OrderLine, Product

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class HandMadeShop:
    """Products by name and orders placed at chosen ages, so expected rankings can be worked out by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now
        self.products: dict[str, Product] = {}
        self.categories: dict[str, Category] = {}
        self.users: dict[str, object] = {}

    def product(self, name: str, category: str = "misc", stock: int = 100) -> Product:
        if name not in self.products:
            if category not in self.categories:
                self.categories[category] = Category.objects.create(name=category, slug=category)
            self.products[name] = Product.objects.create(
                category=self.categories[category],
                name=name,
                slug=name,
                price=Decimal("1.00"),
                stock=stock,
            )
        return self.products[name]

    def user(self, name: str):
        if name not in self.users:
            self.users[name] = get_user_model().objects.create_user(username=name)
        return self.users[name]

    def buy(self, user: str, *names: str, days_ago: float = 1.0, quantity: int = 1) -> Order:
        order = Order.objects.create(
            user=self.user(user), created_at=self.now - timedelta(days=days_ago)
        )
        OrderLine.objects.bulk_create(
            OrderLine(order=order, product=self.product(n), quantity=quantity, unit_price=1)
            for n in names
        )
        return order

    def id(self, name: str) -> str:
        """The wire id of a product."""
        return str(self.products[name].pk)

    def ids(self, *names: str) -> list[str]:
        return [self.id(n) for n in names]
