"""Product and category pages, and the generated product images."""

import hashlib

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.html import escape
from django.views.decorators.cache import cache_control

from recommendations.signals import engagement

from .models import Category, Product


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product.objects.select_related("category"), slug=slug)
    # Counts this visit as one with a product view, in every arm (widget or not).
    engagement.send(sender=Product, kind="product_view", request=request)
    return render(request, "catalog/product_detail.html", {"product": product})


def category_detail(request: HttpRequest, slug: str) -> HttpResponse:
    category = get_object_or_404(Category, slug=slug)
    products = category.products.available().order_by("name")[:60]
    return render(
        request, "catalog/category_detail.html", {"category": category, "products": products}
    )


@cache_control(max_age=86400, public=True)
def product_image(request: HttpRequest, slug: str) -> HttpResponse:
    """A generated SVG: the category's colour, a shape from the slug, the product's initials."""
    product = get_object_or_404(Product.objects.select_related("category"), slug=slug)
    digest = hashlib.sha256(slug.encode()).digest()
    hue = product.category.hue
    accent = (hue + 30 + digest[0] % 60) % 360
    radius = 40 + digest[1] % 50
    cx, cy = 100 + digest[2] % 200, 80 + digest[3] % 140
    initials = escape("".join(w[0] for w in product.name.split()[:2]).upper())
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300" viewBox="0 0 400 300">
<rect width="400" height="300" fill="hsl({hue},45%,88%)"/>
<circle cx="{cx}" cy="{cy}" r="{radius}" fill="hsl({accent},55%,62%)" opacity="0.8"/>
<rect x="{260 - digest[4] % 80}" y="{170 - digest[5] % 60}" width="{60 + digest[6] % 60}"
 height="{60 + digest[7] % 60}" rx="12" fill="hsl({hue},50%,45%)" opacity="0.75"/>
<text x="200" y="170" font-family="sans-serif" font-size="64" font-weight="700"
 text-anchor="middle" fill="hsl({hue},40%,25%)">{initials}</text>
</svg>"""
    return HttpResponse(svg, content_type="image/svg+xml")
