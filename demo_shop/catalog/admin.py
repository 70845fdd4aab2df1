"""Admin for the demo catalog."""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from .models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "hue", "product_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(product_count=Count("products"))

    @admin.display(description="products", ordering="product_count")
    def product_count(self, category: Category) -> int:
        return category.product_count


class AvailabilityFilter(admin.SimpleListFilter):
    """Whether a customer can buy the product now (active and in stock)."""

    title = "availability"
    parameter_name = "availability"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("available", "Available"),
            ("out_of_stock", "Out of stock"),
            ("inactive", "Inactive"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        if self.value() == "available":
            return queryset.available()
        if self.value() == "out_of_stock":
            return queryset.filter(stock=0)
        if self.value() == "inactive":
            return queryset.filter(is_active=False)
        return queryset


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "price", "stock", "is_active", "created_at"]
    list_editable = ["price", "stock", "is_active"]
    list_filter = [AvailabilityFilter, "is_active", "category"]
    list_select_related = ["category"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    list_per_page = 50
