"""Whether a value can be a product's primary key in this database: checked before any query.

An endpoint's answer is not trusted, and an item id it returns may be one the database cannot even
represent: an integer past 64 bits (SQLite refuses it with OverflowError, PostgreSQL with
DataError), or text where the key is an integer (the ORM raises ValueError, PostgreSQL refuses
reused SQL with DataError and aborts the transaction). Such an id names no product; it is dropped
like an unknown one, before a query and before an answer is cached.

The check is the key field's own: `to_python` (the type), then its `validators` (for integer
fields Django adds the database's range), then `get_prep_value`, so that any field type works.
Integer keys, the common case, take a shortcut with the same outcome: `int()` and the range
the field's validators hold.
"""

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


@lru_cache(maxsize=32)
def _key_field(model: type[models.Model]) -> tuple[models.Field, tuple[int, int] | None]:
    """The model's key field, and its range when it is an integer field with a known one."""
    field = model._meta.pk
    # A child model of multi-table inheritance has its parent's key as its own.
    while field.is_relation and field.target_field is not field:
        field = field.target_field
    if not isinstance(field, models.IntegerField):
        return field, None
    low = [v.limit_value for v in field.validators if isinstance(v, MinValueValidator)]
    high = [v.limit_value for v in field.validators if isinstance(v, MaxValueValidator)]
    if not all(isinstance(limit, int) for limit in low + high) or not low or not high:
        return field, None
    return field, (max(low), min(high))


def product_pk(model: type[models.Model], value: Any) -> Any:
    """`value` as the model's primary key, or None when its column cannot hold it."""
    if value is None:
        return None
    field, bounds = _key_field(model)
    if bounds is not None and type(value) in (int, str):
        # What IntegerField.to_python and the range validators do, without their cost per id
        # (a page checks a dozen ids, and this runs for each).
        try:
            pk = int(value)
        except ValueError:
            return None
        return pk if bounds[0] <= pk <= bounds[1] else None
    try:
        pk = field.to_python(value)
        if pk is None:
            return None
        for validator in field.validators:
            validator(pk)
        field.get_prep_value(pk)
    except (ValidationError, TypeError, ValueError, OverflowError):
        return None
    return pk


def product_pks(model: type[models.Model], values: Iterable[Any]) -> list[Any]:
    """The values that can be the model's primary keys, as keys; the others left out."""
    keys = (product_pk(model, value) for value in values)
    return [pk for pk in keys if pk is not None]
