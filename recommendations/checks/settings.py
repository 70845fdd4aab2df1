"""System checks for the RECOMMENDATIONS settings: every mistake a shop can make, with a hint.

Every setting is checked against its kind (type and range: `conf.defaults.KINDS`, or the backend's
own declaration), under the kind's id; then the configured backend's own checks
(`Backend.checks`) and the rules that tie settings together (timeouts within the budget, fresh
before stale, ...) run for the settings that passed.

Ids: recommendations.E001... (errors) and recommendations.W001... (warnings).
"""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.module_loading import import_string

from ..backends.base import backend_class
from ..backends.extras import MissingExtra
from ..catalog import CatalogAdapter
from ..conf import app_settings
from ..conf.declared import declared_settings
from ..conf.kinds import NameOrPath
from ..exceptions import EndpointMisconfigured
from .beat_schedule import check_beat_schedule

SETTING = "settings.RECOMMENDATIONS"


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the RECOMMENDATIONS dict."""
    user_settings = getattr(settings, "RECOMMENDATIONS", None)
    if user_settings is not None and not isinstance(user_settings, dict):
        return [
            Error(
                f"{SETTING} must be a dict, not {type(user_settings).__name__}.",
                hint="Set RECOMMENDATIONS = {'ENDPOINT_NAME': '...'} in your settings.",
                id="recommendations.E001",
            )
        ]
    errors, wrong = _check_kinds()
    errors += _check_backend(wrong)
    errors += _check_budget(wrong)
    errors += _check_cache(wrong)
    errors += _check_relations(wrong)
    errors += _check_product_model(wrong)
    errors += _check_currency(wrong)
    errors += _check_retention(wrong)
    errors += _check_rankers(wrong)
    errors += check_beat_schedule(user_settings or {})
    unknown = app_settings.unknown_keys()
    if unknown:
        errors.append(
            Warning(
                f"{SETTING} has unknown keys: {', '.join(unknown)}.",
                hint="Check the spelling against docs/settings.md.",
                id="recommendations.W001",
            )
        )
    return errors


def _check_kinds() -> tuple[list[CheckMessage], set[str]]:
    """One error per setting whose value does not fit its kind, and the names of those settings."""
    errors: list[CheckMessage] = []
    wrong: set[str] = set()
    declared = declared_settings()
    for name, setting in declared.items():
        kind = setting.kind
        value = app_settings.get(name)
        expected = kind.problem(value)
        if expected is None:
            continue
        wrong.add(name)
        errors.append(
            Error(
                f"{SETTING}['{name}'] is {value!r}; it must be {expected}.",
                hint=f"The default is {setting.default!r} (see docs/settings.md).",
                id=kind.check_id,
            )
        )
    return errors, wrong


def _check_backend(wrong: set[str]) -> list[CheckMessage]:
    """The configured backend's own checks, once it can be imported and its settings fit."""
    if "BACKEND" in wrong:
        return []  # the kind's error (E002) says so
    try:
        backend = backend_class()
    except EndpointMisconfigured as error:
        if not isinstance(error.__cause__, MissingExtra):
            return []  # the kind's error (E002) says so
        return [
            Error(
                str(error),
                hint="Install the extra, or choose another BACKEND.",
                id="recommendations.E026",
            )
        ]
    if set(backend.settings) & wrong:
        return []
    return backend.checks()


def _check_budget(wrong: set[str]) -> list[CheckMessage]:
    if "BUDGET_MS" in wrong:
        return []
    budget = app_settings.BUDGET_MS
    errors: list[CheckMessage] = []
    for name in ("CONNECT_TIMEOUT", "READ_TIMEOUT"):
        value = app_settings.get(name)
        if name not in wrong and value is not None and value * 1000 > budget:
            errors.append(
                Error(
                    f"{SETTING}['{name}'] is {value} s, longer than the page budget of {budget} ms.",
                    hint="A page would wait past its budget; lower it or leave it None.",
                    id="recommendations.E009",
                )
            )
    return errors


def _check_cache(wrong: set[str]) -> list[CheckMessage]:
    alias = app_settings.CACHE_ALIAS
    if "CACHE_ALIAS" not in wrong and alias not in settings.CACHES:
        return [
            Error(
                f"{SETTING}['CACHE_ALIAS'] is {alias!r}, which is not a key of settings.CACHES.",
                hint=f"Use one of: {', '.join(settings.CACHES)}.",
                id="recommendations.E010",
            )
        ]
    return []


def _check_relations(wrong: set[str]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    fresh, stale = app_settings.FRESH_TTL, app_settings.STALE_TTL
    if not {"FRESH_TTL", "STALE_TTL"} & wrong and fresh > stale:
        errors.append(
            Error(
                f"{SETTING}['FRESH_TTL'] ({fresh}) is longer than STALE_TTL ({stale}).",
                hint="An entry is fresh first, then stale: STALE_TTL must be the longer one.",
                id="recommendations.E012",
            )
        )
    holdout, second = app_settings.HOLDOUT_SHARE, app_settings.SECOND_VARIANT_SHARE
    if (
        not {"HOLDOUT_SHARE", "SECOND_VARIANT_SHARE"} & wrong
        and app_settings.SECOND_VARIANT
        and holdout + second > 1
    ):
        errors.append(
            Error(
                f"{SETTING}['HOLDOUT_SHARE'] ({holdout}) and SECOND_VARIANT_SHARE ({second}) add "
                "up to more than 1.",
                hint="They are shares of the same users: the holdout first, then the variant.",
                id="recommendations.E016",
            )
        )
    errors += _check_control_share(wrong)
    return errors


def _check_control_share(wrong: set[str]) -> list[CheckMessage]:
    """The control arm's slice must leave room for the holdout's and the variant's."""
    names = {"HOLDOUT_SHARE", "SECOND_VARIANT_SHARE", "CONTROL_SHARE"}
    if names & wrong:
        return []
    control = app_settings.CONTROL_SHARE
    if control and not app_settings.TRACKING and "TRACKING" not in wrong:
        return [
            Warning(
                f"{SETTING}['CONTROL_SHARE'] is {control} but TRACKING is off: that share of "
                "users sees no widget, and nothing measures what it costs.",
                hint="Turn TRACKING on to compare the widget with no widget, or set "
                "CONTROL_SHARE to 0.",
                id="recommendations.W002",
            )
        ]
    others = app_settings.HOLDOUT_SHARE
    if app_settings.SECOND_VARIANT:
        others += app_settings.SECOND_VARIANT_SHARE
    # Without a control arm, E016 alone says when the others add up to too much. (1e-9: in
    # floats 0.7 + 0.2 + 0.1 is 1.0000000000000002.)
    if not control or control + others <= 1 + 1e-9:
        return []
    return [
        Error(
            f"{SETTING}['CONTROL_SHARE'] ({control}) and the holdout and second variant's shares "
            f"({others}) add up to more than 1.",
            hint="They are shares of the same users: the control arm takes the top of them, "
            "the holdout and the variant the bottom.",
            id="recommendations.E024",
        )
    ]


def _check_product_model(wrong: set[str]) -> list[CheckMessage]:
    if {"CATALOG", "PRODUCT_MODEL"} & wrong:
        return []  # E006 or the kind's error already says so
    try:
        adapter = import_string(app_settings.CATALOG)()
        model = adapter.get_product_model()
    except (LookupError, ValueError, TypeError) as error:
        model, problem = None, str(error)
    else:
        problem = f"{model!r} is not a Django model"
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        return [
            Error(
                f"The product model cannot be found: {problem}.",
                hint=f"Set {SETTING}['PRODUCT_MODEL'] to 'app_label.ModelName', or give a CATALOG "
                "adapter whose get_product_model() returns your product model.",
                id="recommendations.E014",
            )
        ]
    return []


def _check_currency(wrong: set[str]) -> list[CheckMessage]:
    """Products with a price, and neither CURRENCY nor an adapter of its own to say in what."""
    if {"CATALOG", "PRODUCT_MODEL", "CURRENCY"} & wrong or app_settings.CURRENCY is not None:
        return []
    try:
        adapter = import_string(app_settings.CATALOG)()
        model = adapter.get_product_model()
        model._meta.get_field("price")
    except (LookupError, ValueError, TypeError, AttributeError, FieldDoesNotExist):
        return []  # no product model (E014), or no price field: nothing to say
    own = type(adapter)
    if (
        own.format_price is not CatalogAdapter.format_price
        or own.currency is not CatalogAdapter.currency
    ):
        return []
    return [
        Warning(
            f"{SETTING}['CURRENCY'] is not set: the widget shows prices without a currency.",
            hint="Set it to the ISO 4217 code of your prices, e.g. 'EUR' or 'GBP'.",
            id="recommendations.W004",
        )
    ]


def _check_retention(wrong: set[str]) -> list[CheckMessage]:
    if "TRACKING_RETENTION_DAYS" in wrong:
        return []
    # The report window's days must be rolled up (rollups.py) long before their raw rows go.
    from ..reporting.report import REPORT_DAYS

    days = app_settings.TRACKING_RETENTION_DAYS
    if days < REPORT_DAYS:
        return [
            Error(
                f"{SETTING}['TRACKING_RETENTION_DAYS'] ({days}) is shorter than the report's "
                f"window of {REPORT_DAYS} days.",
                hint=f"Keep raw impressions and clicks at least {REPORT_DAYS} days (default 90).",
                id="recommendations.E025",
            )
        ]
    return []


def _check_rankers(wrong: set[str]) -> list[CheckMessage]:
    """Each of FALLBACK_RANKERS must name a Ranker subclass."""
    if "FALLBACK_RANKERS" in wrong:
        return []
    kind = NameOrPath(base="recommendations.fallback.rankers.Ranker")
    return [
        Error(
            f"{SETTING}['FALLBACK_RANKERS'] has {path!r}; each must be {kind.describe()}.",
            hint='See docs/fallback.md, "Strategies".',
            id="recommendations.E027",
        )
        for path in app_settings.FALLBACK_RANKERS
        if kind.problem(path) is not None
    ]
