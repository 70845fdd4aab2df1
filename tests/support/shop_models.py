"""The shop models of the settings in use: the test-only shop's (tests/app/shop) on the app's
settings, the demo shop's otherwise. The factories build on them, whichever shop runs."""

from django.conf import settings

if "tests.app.shop" in settings.INSTALLED_APPS:
    from tests.app.shop.models import Category, Order, OrderLine, Product
else:
    from demo_shop.catalog.models import Category, Product
    from demo_shop.orders.models import Order, OrderLine

__all__ = ["Category", "Order", "OrderLine", "Product"]
