"""System checks for the RECOMMENDATIONS settings: every mistake a shop can make, with a hint.

Ids: recommendations.E001... (errors) and recommendations.W001... (warnings).
"""

from numbers import Real
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import models
from django.utils.module_loading import import_string

from .conf import app_settings

BUILTIN_BACKENDS = {"sagemaker", "http"}
BUILTIN_CODECS = {"json", "sagemaker_json"}
SETTING = "settings.RECOMMENDATIONS"


def _importable(path: Any) -> bool:
    try:
        import_string(str(path))
    except ImportError:
        return False
    return True


def _positive_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and value > 0


def _share(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and 0 <= value <= 1


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
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
    errors: list = []
    errors += _check_backend()
    errors += _check_paths()
    errors += _check_budget()
    errors += _check_cache()
    errors += _check_numbers()
    errors += _check_product_model()
    errors += _check_export()
    unknown = app_settings.unknown_keys()
    if unknown:
        errors.append(
            Warning(
                f"{SETTING} has unknown keys: {', '.join(unknown)}.",
                hint="Check the spelling against the settings table in the README.",
                id="recommendations.W001",
            )
        )
    return errors


def _check_backend() -> list:
    backend = app_settings.BACKEND
    if backend not in BUILTIN_BACKENDS and not _importable(backend):
        return [
            Error(
                f"{SETTING}['BACKEND'] is {backend!r}, which is neither a built-in backend nor an "
                "importable dotted path.",
                hint="Use 'sagemaker', 'http' or the dotted path of a Backend subclass.",
                id="recommendations.E002",
            )
        ]
    if backend == "sagemaker" and not app_settings.ENDPOINT_NAME:
        return [
            Error(
                f"{SETTING}['ENDPOINT_NAME'] is empty but the sagemaker backend needs it.",
                hint="Set it to the name of your SageMaker endpoint.",
                id="recommendations.E003",
            )
        ]
    if backend == "http" and not app_settings.HTTP_URL:
        return [
            Error(
                f"{SETTING}['HTTP_URL'] is empty but the http backend needs it.",
                hint="Set it to your API Gateway URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod/recommend.",
                id="recommendations.E004",
            )
        ]
    return []


def _check_paths() -> list:
    errors = []
    codec = app_settings.CODEC
    if codec not in BUILTIN_CODECS and not _importable(codec):
        errors.append(
            Error(
                f"{SETTING}['CODEC'] is {codec!r}, which is neither a built-in codec nor an "
                "importable dotted path.",
                hint="Use 'json', 'sagemaker_json' or the dotted path of a Codec subclass.",
                id="recommendations.E005",
            )
        )
    if not _importable(app_settings.CATALOG):
        errors.append(
            Error(
                f"{SETTING}['CATALOG'] is {app_settings.CATALOG!r}, which cannot be imported.",
                hint="Give the dotted path of a recommendations.catalog.CatalogAdapter subclass.",
                id="recommendations.E006",
            )
        )
    return errors


def _check_budget() -> list:
    budget = app_settings.BUDGET_MS
    if not _positive_number(budget):
        return [
            Error(
                f"{SETTING}['BUDGET_MS'] is {budget!r}; it must be a positive number of milliseconds.",
                hint="The default is 150.",
                id="recommendations.E007",
            )
        ]
    errors = []
    for name in ("CONNECT_TIMEOUT", "READ_TIMEOUT"):
        value = app_settings.get(name)
        if value is None:
            continue
        if not _positive_number(value):
            errors.append(
                Error(
                    f"{SETTING}['{name}'] is {value!r}; it must be a positive number of seconds or None.",
                    hint="Leave it None to derive it from BUDGET_MS.",
                    id="recommendations.E008",
                )
            )
        elif value * 1000 > budget:
            errors.append(
                Error(
                    f"{SETTING}['{name}'] is {value} s, longer than the page budget of {budget} ms.",
                    hint="A page would wait past its budget; lower it or leave it None.",
                    id="recommendations.E009",
                )
            )
    return errors


def _check_cache() -> list:
    alias = app_settings.CACHE_ALIAS
    if alias not in settings.CACHES:
        return [
            Error(
                f"{SETTING}['CACHE_ALIAS'] is {alias!r}, which is not a key of settings.CACHES.",
                hint=f"Use one of: {', '.join(settings.CACHES)}.",
                id="recommendations.E010",
            )
        ]
    return []


def _check_numbers() -> list:
    errors = []
    for name in (
        "NUM_ITEMS",
        "BATCH_SIZE",
        "MAX_ATTEMPTS",
        "INLINE_CALL_THREADS",
        "TASK_MAX_ATTEMPTS",
        "FRESH_TTL",
        "STALE_TTL",
        "CLICK_MAX_AGE",
        "EVENT_BATCH_SIZE",
        "EVENT_BUFFER_MAX",
        "EVENT_CACHE_TTL",
        "EXPORT_CHUNK_SIZE",
        "EXPORT_S3_MULTIPART_THRESHOLD",
        "EXPORT_S3_MULTIPART_CHUNKSIZE",
        "EXCLUDE_MAX",
    ):
        value = app_settings.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append(
                Error(
                    f"{SETTING}['{name}'] is {value!r}; it must be a whole number of at least 1.",
                    id="recommendations.E011",
                )
            )
    fresh, stale = app_settings.FRESH_TTL, app_settings.STALE_TTL
    if isinstance(fresh, int) and isinstance(stale, int) and fresh > stale:
        errors.append(
            Error(
                f"{SETTING}['FRESH_TTL'] ({fresh}) is longer than STALE_TTL ({stale}).",
                hint="An entry is fresh first, then stale: STALE_TTL must be the longer one.",
                id="recommendations.E012",
            )
        )
    for name in ("HOLDOUT_SHARE", "SECOND_VARIANT_SHARE"):
        value = app_settings.get(name)
        if not _share(value):
            errors.append(
                Error(
                    f"{SETTING}['{name}'] is {value!r}; it must be a share from 0 to 1.",
                    id="recommendations.E013",
                )
            )
    holdout, second = app_settings.HOLDOUT_SHARE, app_settings.SECOND_VARIANT_SHARE
    if _share(holdout) and _share(second) and app_settings.SECOND_VARIANT and holdout + second > 1:
        errors.append(
            Error(
                f"{SETTING}['HOLDOUT_SHARE'] ({holdout}) and SECOND_VARIANT_SHARE ({second}) add "
                "up to more than 1.",
                hint="They are shares of the same users: the holdout first, then the variant.",
                id="recommendations.E016",
            )
        )
    interval = app_settings.EVENT_FLUSH_INTERVAL
    if not _positive_number(interval):
        errors.append(
            Error(
                f"{SETTING}['EVENT_FLUSH_INTERVAL'] is {interval!r}; it must be a positive "
                "number of seconds.",
                hint="It bounds how long a web process keeps tracking events; the default is 5.",
                id="recommendations.E015",
            )
        )
    return errors


def _check_product_model() -> list:
    if not _importable(app_settings.CATALOG):
        return []  # E006 already says so
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


def _check_export() -> list:
    errors = []
    destination = app_settings.EXPORT_DESTINATION
    if not isinstance(destination, str) or (
        "://" in destination and not destination.startswith("s3://")
    ):
        errors.append(
            Error(
                f"{SETTING}['EXPORT_DESTINATION'] is {destination!r}; it must be a folder path, "
                "'s3://bucket/prefix', or '' (no daily export).",
                id="recommendations.E017",
            )
        )
    if app_settings.EXPORT_FORMAT not in ("jsonl", "csv"):
        errors.append(
            Error(
                f"{SETTING}['EXPORT_FORMAT'] is {app_settings.EXPORT_FORMAT!r}; use 'jsonl' or 'csv'.",
                id="recommendations.E018",
            )
        )
    for name in (
        "EXPORT_SETTLE_SECONDS",
        "EXPORT_CLICK_WEIGHT",
        "MODEL_VERSION_REFRESH_SPREAD",
        "CARD_CACHE_SECONDS",
        "PRODUCT_SNAPSHOT_SECONDS",
        "NEAR_CACHE_SECONDS",
    ):
        value = app_settings.get(name)
        if not (isinstance(value, Real) and not isinstance(value, bool) and value >= 0):
            errors.append(
                Error(
                    f"{SETTING}['{name}'] is {value!r}; it must be a number of at least 0.",
                    id="recommendations.E019",
                )
            )
    extra = app_settings.EXPORT_S3_EXTRA_ARGS
    if not isinstance(extra, dict):
        errors.append(
            Error(
                f"{SETTING}['EXPORT_S3_EXTRA_ARGS'] is {extra!r}; it must be a dict of upload "
                "arguments.",
                hint="For example {'ServerSideEncryption': 'aws:kms'}.",
                id="recommendations.E020",
            )
        )
    return errors
