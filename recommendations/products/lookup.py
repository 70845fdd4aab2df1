"""The page's one products query, compiled once per process instead of once per page.

Loading a dozen products by primary key costs Django about 0.5 ms to build and compile the query
and 0.05 ms to run it (SQLite and PostgreSQL on loopback): on a cached page the compiling was the
widget's largest cost. `products_by_pks(catalog, pks)` compiles
`catalog.widget_products().filter(pk__in=[...]).order_by()` once per database alias and list
size, remembers where the primary keys sit among the SQL parameters, and then runs the same SQL
with the page's keys in their places. Rows become model instances the way Django's own iterator
makes them (the database's converters, then `Model.from_db` with the selected columns), so a
deferred field still loads on access and `django_assert_num_queries` counts the query.

Lists are padded to a few sizes (8, 16, 32, 64) by repeating a key, so a process holds at most
four compiled queries per alias. The compiled queries are dropped when any setting changes.

Keys are checked against the primary key field first (`product_keys.py`): one that its column
cannot hold (an endpoint's id past 64 bits, text for an integer key) is left out, never sent.

Only when reusing SQL is safe: the catalog says its `widget_products()` gives the same SQL every
time (`CatalogAdapter.reuse_compiled_query`: no `now()` or per-request value in the filter), the
primary key is an integer, and the queryset has no select_related, annotations, extra() or
distinct. Anything else goes through the ORM as usual, as do longer lists.
"""

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, router
from django.db.models.expressions import Col

from ..cache import local_state
from .keys import product_pks

SIZES = (8, 16, 32, 64)
# Sentinel keys the query is compiled with; only their positions among the parameters matter.
# Inside the 32-bit range, so that no database or integer-overflow check treats them specially.
_SENTINEL_BASE = 2_000_000_000
_INTEGER_KEYS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    }
)


@dataclass(frozen=True)
class _Compiled:
    model: type[models.Model]
    alias: str
    sql: str
    params: tuple[Any, ...]
    key_positions: tuple[int, ...]  # where the primary keys go among `params`
    columns: tuple[Col, ...]  # the selected columns, in row order
    attnames: tuple[str, ...]  # their attribute names, for Model.from_db

    def run(self, pks: Sequence[int]) -> list[models.Model]:
        params = list(self.params)
        for position, pk in zip(
            self.key_positions, _padded(pks, len(self.key_positions)), strict=True
        ):
            params[position] = pk
        connection = connections[self.alias]
        converters = [
            (index, connection.ops.get_db_converters(col) + col.get_db_converters(connection))
            for index, col in enumerate(self.columns)
        ]
        converters = [
            (index, functions, self.columns[index]) for index, functions in converters if functions
        ]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        products = []
        for row in rows:
            if converters:
                row = list(row)
                for index, functions, col in converters:
                    value = row[index]
                    for convert in functions:
                        value = convert(value, col, connection)
                    row[index] = value
            products.append(self.model.from_db(self.alias, self.attnames, row))
        return products


_compiled: dict[tuple[type, str, int], _Compiled | None] = {}
_lock = threading.Lock()


def _forget_compiled(**kwargs: Any) -> None:
    # PRODUCT_MODEL, AVAILABLE_FILTER, CATALOG or DATABASES may have changed (tests do this).
    with _lock:
        _compiled.clear()


local_state.register("product_lookup", drop=_forget_compiled)


def products_by_pks(catalog: Any, pks: Sequence[int]) -> list[models.Model]:
    """`catalog.widget_products()` with these primary keys, in one query (unordered).

    Keys the primary key column cannot hold (see product_keys.py) are left out, like unknown ones.
    """
    pks = list(dict.fromkeys(product_pks(catalog.get_product_model(), pks)))
    if not pks:
        return []
    size = next((s for s in SIZES if s >= len(pks)), None)
    queryset = None
    if size is not None and catalog.reuses_compiled_query():
        key = (type(catalog), router.db_for_read(catalog.get_product_model()), size)
        compiled = _compiled.get(key, ...)
        if compiled is ...:
            queryset = catalog.widget_products()
            compiled = _compile(queryset, size)
            with _lock:
                _compiled[key] = compiled
        if compiled is not None:
            return compiled.run(pks)
    if queryset is None:
        queryset = catalog.widget_products()
    return list(queryset.filter(pk__in=pks))


def _padded(pks: Sequence[int], size: int) -> list[int]:
    return list(pks) + [pks[-1]] * (size - len(pks))


def _compile(queryset: models.QuerySet, size: int) -> _Compiled | None:
    """The reusable form of `queryset` filtered on `size` primary keys, or None if not safe."""
    model = queryset.model
    if model._meta.pk.get_internal_type() not in _INTEGER_KEYS:
        return None
    sentinels = [_SENTINEL_BASE + i for i in range(size)]
    query = queryset.filter(pk__in=sentinels).order_by().query
    if (
        query.select_related
        or query.annotation_select
        or query.extra_select
        or query.distinct
        or query.combinator
        or query.values_select
    ):
        return None
    compiler = query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    klass_info = compiler.klass_info or {}
    select = [expression for expression, _, _ in compiler.select]
    if (
        klass_info.get("model") is not model
        or list(klass_info.get("select_fields", ())) != list(range(len(select)))
        or not all(isinstance(col, Col) and col.target.model is model for col in select)
    ):
        return None
    if [col.target for col in select] != [
        f for f in model._meta.concrete_fields if f in {col.target for col in select}
    ]:
        return None  # Model.from_db takes the loaded values in field order
    wanted = set(sentinels)
    positions = tuple(i for i, v in enumerate(params) if type(v) is int and v in wanted)
    if sorted(params[i] for i in positions) != sentinels:
        return None  # a filter parameter that equals a sentinel, or keys not passed as given
    return _Compiled(
        model=model,
        alias=queryset.db,
        sql=sql,
        params=tuple(params),
        key_positions=positions,
        columns=tuple(select),
        attnames=tuple(col.target.attname for col in select),
    )
