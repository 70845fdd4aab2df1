"""Read-only admin views of the stored fallback ranking (versions, popularity lists, neighbours),
of impressions, clicks and engagement events, and the measurement report
(`admin/recommendations/impression/report/`)."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join

from .catalog import get_catalog
from .models import Click, EngagementEvent, FallbackRanking, FallbackVersion, Impression
from .reporting.chart import ctr_chart
from .reporting.drift_table import drift_by_version
from .reporting.engagement import build_engagement_report
from .reporting.quality import build_quality
from .reporting.quality_chart import quality_charts
from .reporting.report import REPORT_DAYS, build_report

MAX_REPORT_DAYS = 366


class ReadOnlyAdmin(admin.ModelAdmin):
    """Computed data: looked at in the admin, only ever written by a refresh."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FallbackVersion)
class FallbackVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "computed_at",
        "is_current",
        "interactions",
        "users",
        "items",
        "duration_ms",
    ]
    list_filter = ["is_current"]


@admin.register(FallbackRanking)
class FallbackRankingAdmin(ReadOnlyAdmin):
    """The current version's lists: filter by kind for the popularity list, search an item's id."""

    list_display = ["kind", "key", "length", "version", "refreshed_at"]
    list_filter = ["kind"]
    search_fields = ["=key"]
    fields = ["kind", "key", "version", "refreshed_at", "ranked_items"]
    readonly_fields = fields
    list_select_related = ["version"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Older versions are removed after each refresh; a version still being written is not
        # shown until it is current.
        return super().get_queryset(request).filter(version__is_current=True)

    @admin.display(description="items")
    def length(self, obj: FallbackRanking) -> int:
        return len(obj.item_ids)

    @admin.display(description="refreshed at")
    def refreshed_at(self, obj: FallbackRanking) -> Any:
        return obj.version.computed_at

    @admin.display(description="ranked items")
    def ranked_items(self, obj: FallbackRanking) -> str:
        catalog = get_catalog()
        pks = [catalog.pk_from_item_id(item_id) for item_id in obj.item_ids]
        # Names of every product, shown or not: an unavailable one is still worth seeing here.
        products = catalog.get_product_model()._default_manager.in_bulk(
            [pk for pk in pks if pk is not None]
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (rank, item_id, products.get(pk, "(unknown)"), f"{score:.4g}")
                for rank, (item_id, pk, score) in enumerate(
                    zip(obj.item_ids, pks, obj.scores, strict=True), start=1
                )
            ),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>item id</th><th>product</th><th>score</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(Impression)
class ImpressionAdmin(ReadOnlyAdmin):
    """Rendered widgets; the changelist links to the report (CTR per arm, lift, fallback reasons)."""

    list_display = ["created_at", "arm", "source", "variant", "model_version", "fallback_reason"]
    list_filter = ["arm", "source", "fallback_reason", "variant"]
    search_fields = ["=request_id", "=pseudonym"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # no COUNT(*) over a big table on every page

    def get_urls(self) -> list[URLPattern]:
        report = path(
            "report/",
            self.admin_site.admin_view(self.report_view),
            name="recommendations_impression_report",
        )
        return [report, *super().get_urls()]

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """Impressions, clicks and CTR per day, arm, source and variant; lift with its interval."""
        # admin_view has let only active staff in; viewing impressions is the permission asked.
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = min(MAX_REPORT_DAYS, max(1, int(request.GET.get("days", REPORT_DAYS))))
        except ValueError:
            days = REPORT_DAYS
        report = build_report(days=days)
        quality = build_quality(report.start, report.end)
        context = {
            **self.admin_site.each_context(request),
            "title": "Recommendations report",
            "opts": self.model._meta,
            "report": report,
            "engagement": build_engagement_report(days=days),
            "drift": drift_by_version(report.start, report.end),
            "days": days,
            "chart": ctr_chart(report.days, report.daily_by_arm),
            "quality": quality,
            "quality_charts": quality_charts(report.days, quality),
        }
        return TemplateResponse(request, "admin/recommendations/report.html", context)


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin):
    """Counted clicks, with the impression they came from."""

    list_display = ["created_at", "item_id", "position", "arm", "source", "variant"]
    list_filter = ["arm", "source", "variant"]
    search_fields = ["=impression_request_id", "=item_id", "=pseudonym"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(EngagementEvent)
class EngagementEventAdmin(ReadOnlyAdmin):
    """Visits of the control arm and the shop's engagement signals (the report counts them)."""

    list_display = ["created_at", "action", "arm"]
    list_filter = ["action", "arm"]
    search_fields = ["=pseudonym"]
    date_hierarchy = "created_at"
    show_full_result_count = False
