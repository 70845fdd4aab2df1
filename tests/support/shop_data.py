"""A small shop whose products and customers a locally trained model knows.

Products have primary keys 1..NUM_ITEMS (the model's item ids "1".."N") and customers primary keys
from FIRST_USER_PK; the training data uses the customers' pseudonyms, as an export would.
"""

from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model

from model.data.interactions import Interactions
from model.data.synthetic import taste_interactions
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.shop_models import Category, Product

NUM_ITEMS = 60
NUM_CATEGORIES = 6
NUM_USERS = 40
FIRST_USER_PK = 9001


def training_interactions() -> Interactions:
    """Taste-structured orders of the shop's customers, keyed by their pseudonyms."""
    data = taste_interactions(
        num_users=NUM_USERS, num_items=NUM_ITEMS, num_categories=NUM_CATEGORIES, seed=11
    )
    to_pseudonym = {f"user-{index}": pseudonym(FIRST_USER_PK + index) for index in range(NUM_USERS)}
    user_ids = np.array([to_pseudonym[u] for u in data.user_ids.tolist()], dtype=str)
    return Interactions(user_ids, data.item_ids, data.weights, data.timestamps)


def make_shop(product_pks=None) -> tuple[list, list]:
    """Categories, products (pks 1..NUM_ITEMS unless given) and customers for one test."""
    categories = [
        Category.objects.create(name=f"Department {c}", slug=f"department-{c}", hue=30 * c)
        for c in range(NUM_CATEGORIES)
    ]
    pks = list(product_pks or range(1, NUM_ITEMS + 1))
    products = Product.objects.bulk_create(
        Product(
            pk=pk,
            category=categories[pk % NUM_CATEGORIES],
            name=f"Product {pk}",
            slug=f"product-{pk}",
            price=Decimal("9.50"),
            stock=10,
        )
        for pk in pks
    )
    User = get_user_model()
    users = [
        User.objects.create_user(pk=FIRST_USER_PK + i, username=f"shopper{i}", password="pw")
        for i in range(NUM_USERS)
    ]
    return products, users
