"""Buying: an order of the products, the stock taken, and the app told after the commit."""

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from recommendations.signals import purchase_completed

from .models import Order, OrderLine, Product


def place_order(user, quantities: dict[int, int]) -> Order:
    """Record an order for `quantities` (product pk -> quantity) and take the stock."""
    with transaction.atomic():
        products = list(Product.objects.filter(pk__in=quantities).order_by("pk"))
        order = Order.objects.create(user=user)
        OrderLine.objects.bulk_create(
            OrderLine(order=order, product=p, quantity=quantities[p.pk], unit_price=p.price)
            for p in products
        )
        for product in products:
            Product.objects.filter(pk=product.pk).update(stock=F("stock") - quantities[product.pk])
        order.total = sum((p.price * quantities[p.pk] for p in products), Decimal("0"))
        order.save(update_fields=["total"])
        item_ids = [str(p.pk) for p in products]
        transaction.on_commit(
            lambda: purchase_completed.send(sender=Order, user=user, item_ids=item_ids)
        )
    return order
