"""A datetime column as float seconds since the epoch, computed by the database: for catalog adapters.

The interaction chunks carry `timestamps` as float64 epoch seconds. Converting a million order
dates in Python costs more than the query, so SQLite and PostgreSQL compute them; `supported()`
says whether the current database is one of them (on others the adapter converts the datetimes).
"""

from typing import Any

from django.db import NotSupportedError, connection
from django.db.models import FloatField, Func

VENDORS = frozenset({"sqlite", "postgresql"})


def supported() -> bool:
    """Whether `EpochSeconds` runs on the default database."""
    return connection.vendor in VENDORS


class EpochSeconds(Func):
    """Seconds since the epoch of a datetime expression, as a float."""

    output_field = FloatField()

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        raise NotSupportedError(f"EpochSeconds is not written for {connection.vendor}")

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # julianday keeps the fraction of a second that strftime('%s') drops.
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return super().as_sql(compiler, connection, template=template, **extra_context)

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        template = "EXTRACT(EPOCH FROM %(expressions)s)::double precision"
        return super().as_sql(compiler, connection, template=template, **extra_context)
