"""Run with `manage.py shell`: a small Oscar shop from Oscar's own factories.

Twelve products with stock (one sold out), thirty customers in two tastes who each placed three
orders through Oscar's OrderCreator (so Oscar's `order_placed` reached the app), and guest orders.
"""

import random
from decimal import Decimal

from oscar.test.factories import BasketFactory, UserFactory, create_order, create_product

rng = random.Random(7)
products = [
    create_product(
        title=f"Product {number}",
        upc=f"upc-{number}",
        price=Decimal("4.50") + number,
        num_in_stock=0 if number == 12 else 100,
        partner_name="Shop",
    )
    for number in range(1, 13)
]
tastes = (products[:6], products[6:11])
for number in range(30):
    customer = UserFactory(username=f"customer-{number}", email=f"customer-{number}@example.com")
    for product in rng.sample(tastes[number % 2], 3):
        basket = BasketFactory(owner=customer)
        basket.add_product(product)
        create_order(user=customer, basket=basket)
print("seeded", len(products), "products")
