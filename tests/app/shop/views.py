"""The pages the app's tests visit: a home page with the widget, a product's page and image, and
a cart in the session that a checkout buys."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .checkout import place_order
from .models import Product


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/home.html")


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    return HttpResponse(product.name)


def product_image(request: HttpRequest, slug: str) -> HttpResponse:
    get_object_or_404(Product, slug=slug)
    return HttpResponse("<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/svg+xml")


@require_POST
def cart_add(request: HttpRequest, product_id: int) -> HttpResponse:
    cart = request.session.get("cart", {})
    cart[str(product_id)] = cart.get(str(product_id), 0) + 1
    request.session["cart"] = cart
    return redirect("home")


@require_POST
@login_required
def checkout(request: HttpRequest) -> HttpResponse:
    cart = request.session.pop("cart", {})
    place_order(request.user, {int(pk): quantity for pk, quantity in cart.items()})
    return redirect("home")
