"""The demo catalog's own queries: the active users' keyset pages (the prefetch fan-out reads them)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from demo_shop.catalog.recommendations import DemoCatalog
from demo_shop.orders.checkout import place_order
from demo_shop.orders.models import Order
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_with_activity():
    """23 users who ordered in the last days, 4 whose only order is older than ACTIVE_DAYS."""
    _, users = make_shop()
    for user in users[:27]:
        place_order(user, {user.pk % 50 + 1: 1})
    old = [user.pk for user in users[23:27]]
    Order.objects.filter(user_id__in=old).update(created_at=timezone.now() - timedelta(days=90))
    return [user.pk for user in users[:23]], old


def test_the_demo_catalog_pages_by_user_id(shop_with_activity):
    active, _ = shop_with_activity
    since = timezone.now() - timedelta(days=30)
    catalog = DemoCatalog()
    assert catalog.active_user_id_page(since, 0, 5) == sorted(active)[:5]
    assert catalog.active_user_id_page(since, sorted(active)[20], 5) == sorted(active)[21:]
    assert catalog.active_user_id_page(since, sorted(active)[-1], 5) == []
