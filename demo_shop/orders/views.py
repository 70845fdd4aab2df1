"""Cart and checkout pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from demo_shop.catalog.models import Product
from recommendations.signals import engagement

from .cart import Cart
from .checkout import CheckoutError, place_order
from .models import Order


def cart_detail(request: HttpRequest) -> HttpResponse:
    cart = Cart(request)
    products = Product.objects.in_bulk([int(pk) for pk in cart.items])
    rows = [
        {"product": products[int(pk)], "quantity": q, "subtotal": products[int(pk)].price * q}
        for pk, q in cart.items.items()
        if int(pk) in products
    ]
    total = sum((row["subtotal"] for row in rows), 0)
    return render(request, "orders/cart.html", {"rows": rows, "total": total})


@require_POST
def cart_add(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=product_id)
    if not product.is_available:
        messages.error(request, f"Sorry, {product.name} is not available.")
        return redirect(product.get_absolute_url())
    Cart(request).add(product.pk)
    engagement.send(sender=Product, kind="add_to_cart", request=request)
    messages.success(request, f"{product.name} is in your cart.")
    return redirect("cart")


@require_POST
def cart_remove(request: HttpRequest, product_id: int) -> HttpResponse:
    Cart(request).remove(product_id)
    return redirect("cart")


@login_required
@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    cart = Cart(request)
    try:
        order = place_order(request.user, {int(pk): q for pk, q in cart.items.items()})
    except CheckoutError as error:
        messages.error(request, str(error))
        return redirect("cart")
    cart.clear()
    engagement.send(sender=Order, kind="purchase", request=request)
    messages.success(request, f"Thank you! Order #{order.pk} is placed.")
    return redirect("order_list")


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    orders = Order.objects.filter(user=request.user).prefetch_related("lines__product")[:20]
    return render(request, "orders/order_list.html", {"orders": orders})
