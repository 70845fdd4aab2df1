"""The default adapter's available products, from `AVAILABLE_FILTER` in any of its three forms.

A dict is `QuerySet.filter()`'s keyword arguments, a `Q` object its one argument (OR, NOT), and a
string the dotted path of a callable that gets the product model's base queryset and returns the
available products: where a condition on another model goes ("has a stock record with stock
left" is an `Exists()` subquery), since the settings cannot import models. The system check E029
imports the path at start-up, so a page never meets a wrong one first.
"""

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.module_loading import import_string


def available(products: models.QuerySet, rule: Any) -> models.QuerySet:
    """`products` narrowed by `rule`, an `AVAILABLE_FILTER` value."""
    if isinstance(rule, Q):
        return products.filter(rule)
    if isinstance(rule, str):
        return import_string(rule)(products)
    return products.filter(**rule)
