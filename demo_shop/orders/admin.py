"""Admin for the demo orders: an order with its lines inline."""

from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from .models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]
    fields = ["product", "quantity", "unit_price", "subtotal"]
    readonly_fields = ["subtotal"]

    @admin.display(description="subtotal")
    def subtotal(self, line: OrderLine) -> str:
        return "" if line.pk is None else f"{line.subtotal:.2f}"


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "created_at", "line_count", "total"]
    list_filter = ["created_at"]
    # No date_hierarchy: its DISTINCT over truncated dates takes seconds on a million-line database.
    search_fields = ["=id", "user__username", "user__email"]
    # A seeded shop has tens of thousands of customers: a <select> of them would not load.
    raw_id_fields = ["user"]
    list_select_related = ["user"]
    inlines = [OrderLineInline]
    list_per_page = 50
    # Counting every order for "x of N" is slow on a million-line benchmark database.
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        # A correlated subquery, not Count() with GROUP BY: only the page's orders get counted.
        lines = (
            OrderLine.objects.filter(order=OuterRef("pk"))
            .order_by()
            .values("order")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return super().get_queryset(request).annotate(line_count=Subquery(lines))

    @admin.display(description="lines")
    def line_count(self, order: Order) -> int:
        return order.line_count
