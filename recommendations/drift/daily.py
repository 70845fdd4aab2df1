"""One day's drift per model version: the model's impressions against its training baseline.

For each model version that answered on the day (impressions whose source is "model" or
"mixed", the items the model placed in them):

- item popularity: the items' training popularity bins (model/training/drift_baseline.py), against the
  training interactions' shares of the same bins; items the model never saw have a bin of their
  own;
- history length: the signed-in viewers' interactions in the catalog adapter's history
  (`interaction_chunks`, read once a day), in the baseline's bins, against the training users';
- the share of the products available now that the model never saw;
- the days from the newest training event to the day's end.

A version without a stored baseline is skipped with a warning: nothing can be compared.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.db.models import QuerySet
from django.utils import timezone

from ..catalog import get_catalog
from ..conf import app_settings
from ..models import DailyDrift, DriftBaseline, Impression
from ..reporting.days import day_bounds, shop_day
from ..tracking.pseudonyms import pseudonym
from . import figures
from .baseline import Baseline, BaselineError, load_baseline, stored_baseline

logger = logging.getLogger(__name__)

MODEL_SOURCES = ("model", "mixed")
# (setting, DailyDrift field): the thresholds a figure is warned about against.
THRESHOLDS = (
    ("DRIFT_ITEM_POPULARITY_MAX", "item_popularity"),
    ("DRIFT_HISTORY_LENGTH_MAX", "history_length"),
    ("UNSEEN_PRODUCT_SHARE_MAX", "unseen_product_share"),
    ("MODEL_MAX_AGE_DAYS", "model_age_days"),
)


# Item ids held before they are turned into popularity bins: bounds the memory of a busy day.
BIN_BATCH = 50_000


@dataclass
class VersionTraffic:
    """What one model version showed on a day (as popularity bin counts), and to whom."""

    baseline: Baseline
    popularity: np.ndarray
    items: int = 0
    viewers: set[str] = field(default_factory=set)
    pending: list[str] = field(default_factory=list)

    def add(self, item_ids: Iterable[str]) -> None:
        """Count shown items into their popularity bins (in batches)."""
        self.pending.extend(item_ids)
        if len(self.pending) >= BIN_BATCH:
            self.flush()

    def flush(self) -> None:
        """Count the items still held."""
        bins = self.baseline.popularity_bins(self.pending)
        self.popularity += np.bincount(bins, minlength=len(self.popularity))
        self.items += len(self.pending)
        self.pending.clear()


def compute_drift(day: date | None = None) -> list[DailyDrift]:
    """Compute and store `day`'s drift figures per model version (yesterday by default)."""
    day = day or shop_day() - timedelta(days=1)
    source = app_settings.DRIFT_BASELINE
    if source:
        try:
            load_baseline(source)
        except BaselineError as error:
            # The stored baselines still serve; a wrong path is for an operator to fix.
            logger.warning("Drift baseline not loaded: %s", error, extra={"reason": "baseline"})
    versions = model_impressions(day).order_by().values_list("model_version", flat=True)
    baselines = baselines_of(versions.distinct())
    if not baselines:
        return []
    traffic = traffic_of(day, {version: baseline for version, (_, baseline) in baselines.items()})
    available = available_item_ids()
    history = history_lengths(set().union(*(t.viewers for t in traffic.values())))
    _, until = day_bounds(day)
    stored = []
    for version, shown in sorted(traffic.items()):
        row, baseline = baselines[version]
        lengths = np.array([history.get(viewer, 0) for viewer in shown.viewers], dtype=np.int64)
        drift, _ = DailyDrift.objects.update_or_create(
            day=day,
            model_version=version,
            defaults={
                "item_popularity": figures.jensen_shannon(
                    shown.popularity, baseline.popularity_shares
                ),
                "history_length": figures.jensen_shannon(
                    histogram(lengths, baseline.history_edges), baseline.history_counts
                ),
                "unseen_product_share": figures.unseen_share(baseline.knows(available)),
                "model_age_days": figures.age_days(row.max_timestamp, until),
                "recommended_items": shown.items,
                "viewers": len(shown.viewers),
                "computed_at": timezone.now(),
            },
        )
        warn_over_thresholds(drift)
        stored.append(drift)
    return stored


def model_impressions(day: date) -> QuerySet[Impression]:
    """The day's impressions that the model answered (wholly or partly), with a model version."""
    since, until = day_bounds(day)
    return Impression.objects.filter(
        created_at__gte=since, created_at__lt=until, source__in=MODEL_SOURCES
    ).exclude(model_version="")


def baselines_of(versions: Iterable[str]) -> dict[str, tuple[DriftBaseline, Baseline]]:
    """The stored baseline of each distinct version; a version without one is skipped, logged."""
    found = {}
    for version in sorted(set(versions)):
        stored = stored_baseline(version)
        if stored is None:
            logger.warning(
                "No drift baseline for model version %s: its drift is not computed",
                version,
                extra={"model_version": version, "reason": "no_baseline"},
            )
        else:
            found[version] = stored
    return found


def traffic_of(day: date, baselines: dict[str, Baseline]) -> dict[str, VersionTraffic]:
    """What each model version in `baselines` showed in the day's impressions, and to whom."""
    rows = (
        model_impressions(day)
        .filter(model_version__in=list(baselines))
        .values_list("model_version", "pseudonym", "items")
    )
    traffic = {
        version: VersionTraffic(baseline, np.zeros(len(baseline.popularity_shares), np.int64))
        for version, baseline in baselines.items()
    }
    for version, viewer, items in rows.iterator(chunk_size=2000):
        shown = traffic[version]
        shown.add(
            str(item["item_id"])
            for item in items or ()
            if isinstance(item, dict) and item.get("source", "model") == "model"
        )
        if viewer:
            shown.viewers.add(viewer)
    for shown in traffic.values():
        shown.flush()
    return traffic


def available_item_ids() -> np.ndarray:
    """The wire ids of the products available now."""
    catalog = get_catalog()
    products = catalog.available_products().only("pk").iterator(chunk_size=10_000)
    return np.array([catalog.item_id(product) for product in products], dtype=str)


def history_lengths(viewers: Iterable[str]) -> dict[str, int]:
    """Interactions per viewer (by pseudonym) in the catalog's history; viewers without any are left out."""
    wanted = set(viewers)
    if not wanted:
        return {}
    users_parts, count_parts = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for chunk in get_catalog().interaction_chunks():
        users, per_user = np.unique(chunk.user_ids, return_counts=True)
        users_parts.append(users)
        count_parts.append(per_user)
    users, inverse = np.unique(np.concatenate(users_parts), return_inverse=True)
    totals = np.bincount(inverse, weights=np.concatenate(count_parts), minlength=len(users))
    by_pseudonym = {}
    for user, count in zip(users.tolist(), totals.tolist(), strict=True):
        name = pseudonym(user)
        if name in wanted:
            by_pseudonym[name] = int(count)
    return by_pseudonym


def histogram(lengths: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin with lower-inclusive `edges`, the last bin open (as the baseline's)."""
    bins = np.searchsorted(edges, lengths, side="right") - 1
    return np.bincount(np.clip(bins, 0, len(edges) - 1), minlength=len(edges))


def over_thresholds(drift: DailyDrift) -> list[str]:
    """The names of the figures of `drift` above their thresholds."""
    return [
        name
        for setting, name in THRESHOLDS
        if getattr(drift, name) is not None
        and getattr(drift, name) > getattr(app_settings, setting)
    ]


def warn_over_thresholds(drift: DailyDrift) -> list[str]:
    """Log one warning per figure above its threshold; the names of those figures."""
    over = over_thresholds(drift)
    for setting, name in THRESHOLDS:
        value, limit = getattr(drift, name), getattr(app_settings, setting)
        if name in over:
            logger.warning(
                "Drift: %s of model version %s is %.3f on %s, above %s (%s)",
                name,
                drift.model_version,
                value,
                drift.day,
                setting,
                limit,
                extra={"model_version": drift.model_version, "figure": name, "value": value},
            )
    return over
