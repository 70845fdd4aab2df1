"""Checkout: turns a cart into an order, never selling stock that is not there."""

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from demo_shop.catalog.models import Product
from recommendations.signals import purchase_completed

from .models import Order, OrderLine


class CheckoutError(Exception):
    """The cart cannot be bought as it is; the message is shown to the customer."""


def place_order(user, quantities: dict[int, int]) -> Order:
    """Record an order for `quantities` (product pk -> quantity) and take the stock, atomically."""
    quantities = {int(pk): int(q) for pk, q in quantities.items() if int(q) > 0}
    if not quantities:
        raise CheckoutError("Your cart is empty.")
    with transaction.atomic():
        # Lock the rows in a fixed order so two checkouts cannot deadlock or both take the last item.
        products = list(
            Product.objects.select_for_update().filter(pk__in=quantities).order_by("pk")
        )
        if len(products) != len(quantities):
            raise CheckoutError("A product in your cart no longer exists.")
        for product in products:
            if not product.is_active:
                raise CheckoutError(f"{product.name} is no longer sold.")
            if product.stock < quantities[product.pk]:
                raise CheckoutError(f"Sorry, {product.name} is out of stock.")
        order = Order.objects.create(user=user)
        lines = []
        total = Decimal("0")
        for product in products:
            quantity = quantities[product.pk]
            # The filter is a second guard: the UPDATE only happens while enough stock is left.
            updated = Product.objects.filter(pk=product.pk, stock__gte=quantity).update(
                stock=F("stock") - quantity
            )
            if not updated:
                raise CheckoutError(f"Sorry, {product.name} is out of stock.")
            lines.append(
                OrderLine(order=order, product=product, quantity=quantity, unit_price=product.price)
            )
            total += product.price * quantity
        OrderLine.objects.bulk_create(lines)
        order.total = total
        order.save(update_fields=["total"])
        item_ids = [str(p.pk) for p in products]
        transaction.on_commit(
            lambda: purchase_completed.send(sender=Order, user=user, item_ids=item_ids)
        )
    return order
