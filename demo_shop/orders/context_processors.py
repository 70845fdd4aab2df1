"""Puts the cart's item count into every template."""

from django.http import HttpRequest

from .cart import Cart


def cart(request: HttpRequest) -> dict:
    return {"cart_count": Cart(request).count()}
