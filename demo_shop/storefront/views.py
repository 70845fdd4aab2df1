"""The shop's home page."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from demo_shop.catalog.models import Category, Product


def home(request: HttpRequest) -> HttpResponse:
    products = Product.objects.available().select_related("category").order_by("-created_at")[:12]
    return render(
        request,
        "storefront/home.html",
        {
            "products": products,
            "categories": Category.objects.all(),
            "recommendations_widget": settings.DEMO_RECOMMENDATIONS_WIDGET,
        },
    )
