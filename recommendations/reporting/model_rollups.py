"""The daily rollup of what each model version and production variant answered (`DailyModelAnswers`).

Per whole day (in the shop's time zone), model version and variant, over the impressions the
model answered (those with a model version, `tracking/impressions.py`): the distinct model items
shown, the distinct signed-in viewers and those its popularity prior answered (cold start), the
model's items the availability filter looked at and dropped (stale), and the first impression.
Distinct counts do not add up over hours or over the other rollups' groups, so these are
computed once a day has ended, with its visits (`rollups.roll_up_day`).
"""

from datetime import date, datetime

from django.db.models import Count, Min, Q, Sum

from ..catalog import get_catalog
from ..models import DailyModelAnswers, Impression

CHUNK = 5000  # impressions per fetch when gathering the items shown


def model_answer_rows(day: date, since: datetime, until: datetime) -> list[DailyModelAnswers]:
    """The rollup rows of the impressions created in [since, until), all of `day`."""
    answered = Impression.objects.filter(created_at__gte=since, created_at__lt=until).exclude(
        model_version=""
    )
    groups = (
        answered.values("model_version", "variant")
        .annotate(
            viewers=Count("pseudonym", distinct=True, filter=~Q(pseudonym="")),
            cold_viewers=Count("pseudonym", distinct=True, filter=Q(prior=True) & ~Q(pseudonym="")),
            checked=Sum("model_checked"),
            dropped=Sum("model_dropped"),
            first_served=Min("created_at"),
        )
        .order_by("model_version", "variant")
    )
    shown: dict[tuple[str, str], set[str]] = {}
    rows = answered.values_list("model_version", "variant", "items").order_by()
    for version, variant, items in rows.iterator(chunk_size=CHUNK):
        shown.setdefault((version, variant), set()).update(
            str(item["item_id"])
            for item in items or ()
            if isinstance(item, dict) and item.get("source") == "model" and "item_id" in item
        )
    return [
        DailyModelAnswers(
            day=day,
            model_version=group["model_version"],
            variant=group["variant"],
            items_shown=len(shown.get((group["model_version"], group["variant"]), ())),
            viewers=group["viewers"],
            cold_viewers=group["cold_viewers"],
            checked=group["checked"] or 0,
            dropped=group["dropped"] or 0,
            first_served=group["first_served"],
        )
        for group in groups
    ]


def available_items() -> int:
    """How many products may be shown now (the catalogue the coverage is measured against)."""
    return get_catalog().available_products().count()
