"""Fixtures of the Oscar tests: products, stock and customers from Oscar's own factories.

Imports of Oscar and of the app wait for the fixtures: this file is read before Django is set up.
"""

from decimal import Decimal

import pytest


@pytest.fixture(autouse=True)
def _celery_app():
    """The tests' Celery app (in memory), as a project loads its own from its `__init__`."""
    from . import celery

    return celery.app


@pytest.fixture
def catalog():
    from recommendations.contrib.oscar.catalog import OscarCatalog

    return OscarCatalog()


@pytest.fixture
def make_product():
    """`make_product(title, price=..., stock=...)`: a standalone product with one stock record."""
    from oscar.test.factories import create_product

    def make(title: str, price: str = "10.00", stock: int | None = 5, **kwargs):
        return create_product(
            title=title, price=Decimal(price), num_in_stock=stock, partner_name="Shop", **kwargs
        )

    return make


@pytest.fixture
def customer():
    from oscar.test.factories import UserFactory

    return UserFactory(email="customer@example.com", username="customer")


@pytest.fixture
def buy():
    """`buy(user, *products)`: an order placed by Oscar's OrderCreator from a basket of them."""
    from oscar.test.factories import create_order
    from oscar.test.factories.basket import BasketFactory

    def place(user, *products, quantity: int = 1):
        basket = BasketFactory(owner=user)
        for product in products:
            basket.add_product(product, quantity=quantity)
        return create_order(user=user, basket=basket)

    return place
