"""Checks of the configured catalog adapter: the features it leaves off (W005), and the names the
default `describe()` cannot find on the product model (W006).

The default `CatalogAdapter` knows products from settings and nothing of purchases or history, so
a feature whose method the shop's adapter does not override does nothing, silently. These checks
say so at start-up; docs/catalog-adapter.md has the table of each method and the features that
need it.
"""

from typing import Any, NamedTuple

from django.conf import settings
from django.core.checks import CheckMessage, Warning
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.module_loading import import_string

from ..backends.base import backend_class
from ..catalog import CatalogAdapter
from ..conf import app_settings
from ..conf.defaults import KINDS
from ..exceptions import EndpointMisconfigured

DOCS = "docs/catalog-adapter.md"


class Need(NamedTuple):
    """A feature's need of one method: any of `methods` overridden meets it."""

    feature: str
    state: str  # what the warning says of the feature without the method
    methods: tuple[str, ...]
    signature: str  # the method to add, as the hint names it
    without: str  # what happens without it


# In the order of the features in docs/catalog-adapter.md. `prefetch` is checked only while
# BACKEND has an endpoint and `reports` only with DRIFT_BASELINE: without them they are off anyway.
NEEDS = (
    Need(
        "exclusions",
        "Exclusions are off",
        ("purchased_item_ids", "hidden_items"),
        "purchased_item_ids(user_id)",
        "a customer is recommended what they already bought",
    ),
    Need(
        "fallback",
        "The fallback ranking is off",
        ("interaction_chunks",),
        "interaction_chunks(since, chunk_size)",
        "it is computed from no interactions and pages without the model's answer show the "
        "newest products",
    ),
    Need(
        "fallback",
        "The fallback ranking is not personal",
        ("user_history", "recent_item_ids"),
        "user_history(user_id, recent_limit)",
        "it is the same for every customer",
    ),
    Need(
        "prefetch",
        "Prefetching is off",
        ("active_user_id_page", "active_user_ids"),
        "active_user_id_page(since, after, limit)",
        "beat prefetches no one and every signed-in page asks the endpoint itself",
    ),
    Need(
        "export",
        "The export is off",
        ("interaction_chunks_after",),
        "interaction_chunks_after(after_id, chunk_size)",
        "the export stops with an error naming it and there is no training data for a model",
    ),
    Need(
        "reports",
        "The drift report is wrong",
        ("interaction_chunks",),
        "interaction_chunks(since, chunk_size)",
        "the daily drift counts no history for any viewer",
    ),
)

# What the default describe() reads of a product, and what the card lacks without it.
DESCRIBED = {
    "name": "str(product) as the name",
    "price": "no price",
    "get_image_url": "no image",
    "get_absolute_url": "no link to the product",
}


def check_catalog(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The features the configured adapter leaves off, and what its describe() cannot find."""
    if not isinstance(getattr(settings, "RECOMMENDATIONS", None) or {}, dict):
        return []  # E001 says so
    path = app_settings.CATALOG
    if KINDS["CATALOG"].problem(path) is not None:
        return []  # E006 says so
    adapter_class = import_string(path)
    return features_off(path, adapter_class) + describe_names_missing(adapter_class)


def overrides(adapter_class: type[CatalogAdapter], method: str) -> bool:
    """Whether the adapter has its own `method` (or inherits one from a class of the shop's)."""
    return getattr(adapter_class, method) is not getattr(CatalogAdapter, method)


def features_off(path: str, adapter_class: type[CatalogAdapter]) -> list[CheckMessage]:
    """W005: one warning per feature the adapter leaves off, with the methods to add."""
    skipped = set()
    if not _has_endpoint():
        skipped.add("prefetch")
    if not app_settings.DRIFT_BASELINE:
        skipped.add("reports")
    missing: dict[str, list[Need]] = {}
    for need in NEEDS:
        if need.feature in skipped or any(overrides(adapter_class, m) for m in need.methods):
            continue
        missing.setdefault(need.feature, []).append(need)
    if adapter_class is CatalogAdapter:
        advice = (
            "Subclass recommendations.catalog.CatalogAdapter, name the subclass in "
            "RECOMMENDATIONS['CATALOG'] and give it {methods}"
        )
    else:
        advice = "Add {methods} to the adapter"
    return [
        Warning(
            f"{needs[0].state}: the catalog adapter has no "
            + "; nor ".join(f"{need.methods[0]}(), so {need.without}" for need in needs)
            + ".",
            hint=advice.format(methods=" and ".join(need.signature for need in needs))
            + f" ({DOCS} lists what each feature needs).",
            obj=path,
            id="recommendations.W005",
        )
        for needs in missing.values()
    ]


def _has_endpoint() -> bool:
    try:
        return bool(backend_class().has_endpoint)
    except EndpointMisconfigured:
        return True  # a BACKEND that cannot be built: E002 or E026 says why


def describe_names_missing(adapter_class: type[CatalogAdapter]) -> list[CheckMessage]:
    """W006: the names the default describe() reads that the product model lacks."""
    if overrides(adapter_class, "describe") or overrides(adapter_class, "describe_all"):
        return []
    if KINDS["PRODUCT_MODEL"].problem(app_settings.PRODUCT_MODEL) is not None:
        return []  # the kind's error says so
    try:
        model = adapter_class().get_product_model()
    except (LookupError, ValueError, TypeError, AttributeError):
        return []  # E014 says so
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        return []
    missing = [name for name in DESCRIBED if not _has_name(model, name)]
    if not missing:
        return []
    return [
        Warning(
            f"The default catalog adapter's describe() finds no {_listed(missing, 'or')} on "
            f"{model._meta.label}: the widget's cards show "
            f"{_listed([DESCRIBED[name] for name in missing], 'and')}.",
            hint="Give the model these names (a field, a property or a method), or override "
            f"describe() in your catalog adapter ({DOCS}).",
            obj=model,
            id="recommendations.W006",
        )
    ]


def _has_name(model: type[models.Model], name: str) -> bool:
    """A field of the model, or any attribute of its class (a property, a method)."""
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return hasattr(model, name)
    return True


def _listed(words: list[str], last: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"
