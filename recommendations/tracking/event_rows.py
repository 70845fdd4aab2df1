"""Events become rows of the impressions, clicks and engagement tables: fitted to their columns,
inserted in bulk, and event by event when the database refuses a batch.

The app makes the events (`impressions.py`), but part of what they carry comes from outside: the
production variant an endpoint names in a header, the model version in its answer. Strings are cut
to their column's length, and NUL characters (which PostgreSQL text cannot hold) removed, where the
events are made and again here, for events an older process left in the cache.

A batch the database still refuses (IntegrityError, DataError, or a value the driver cannot send)
is inserted again event by event, each in a savepoint of its own: the good events are stored, the
bad ones are counted and logged, and the batch is done either way. Any other error (the database is
down) is raised: the flush leaves the batch where it is, and the next flush tries it all again.

On PostgreSQL a batch's transaction first takes a transaction-level advisory lock, so that batches
commit one at a time (click ids in the order they were handed out): the database releases it at
commit, at rollback, and when the connection of a killed worker goes away.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.db import DataError, IntegrityError, connection, models, transaction

logger = logging.getLogger(__name__)

IMPRESSION = "impression"
CLICK = "click"
ENGAGEMENT = "engagement"
ROWS_PER_INSERT = 1000
# The advisory lock key of event inserts on PostgreSQL: any 64-bit number no other lock uses.
INSERT_LOCK_ID = 0x7265636F6D6D656E  # "recommen"
# The databases whose own locks put event inserts one after another: PostgreSQL's advisory lock,
# SQLite's single writer.
ORDERED_BY_DATABASE = ("postgresql", "sqlite")

# What an event that cannot become a row raises on the way (a missing or unknown field, a time or
# a number out of range), and what a database or its driver raises for a row it cannot store.
UNBUILDABLE = (KeyError, AttributeError, TypeError, ValueError, OverflowError, OSError)
REFUSED = (IntegrityError, DataError, OverflowError, ValueError, TypeError)


@dataclass
class Inserted:
    """What one insert offered to the tables, and how many events were refused."""

    impressions: int = 0
    clicks: int = 0
    rejected: int = 0
    engagements: int = 0


@lru_cache(maxsize=8)
def _string_columns(model: type[models.Model]) -> tuple[tuple[str, int | None], ...]:
    return tuple(
        (field.attname, field.max_length)
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField)
    )


def fit_to_columns(model: type[models.Model], fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` (changed in place) with each string cut to its column's length, without NULs."""
    for name, limit in _string_columns(model):
        value = fields.get(name)
        if isinstance(value, str):
            if "\x00" in value:
                value = value.replace("\x00", "")
            if limit is not None and len(value) > limit:
                value = value[:limit]
            fields[name] = value
    return fields


def _model_of(kind: Any) -> type[models.Model] | None:
    from ..models import Click, EngagementEvent, Impression

    return {IMPRESSION: Impression, CLICK: Click, ENGAGEMENT: EngagementEvent}.get(kind)


def _row(event: dict[str, Any]) -> models.Model:
    """The row of one event; raises one of UNBUILDABLE when it cannot be one."""
    model = _model_of(event.get("kind"))
    if model is None:
        raise ValueError("unknown kind of event")
    fields = {name: value for name, value in event.items() if name != "kind"}
    fields["created_at"] = datetime.fromtimestamp(fields["created_at"], tz=UTC)
    return model(**fit_to_columns(model, fields))


def insert_events(events: Iterable[dict[str, Any]]) -> Inserted:
    """Insert the events, ignoring ones already there; refused ones are counted, never raised."""
    from ..models import Click, EngagementEvent

    rows: list[models.Model] = []
    unbuildable = 0
    for event in events:
        try:
            rows.append(_row(event))
        except UNBUILDABLE:
            unbuildable += 1
    offered = len(rows)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [INSERT_LOCK_ID])
        try:
            with transaction.atomic():
                _bulk_insert(rows)
        except REFUSED as error:
            logger.warning(
                "Recommendations events batch refused by the database (%s); inserting one by one",
                type(error).__name__,
                extra={"error_class": type(error).__name__, "events": offered},
            )
            rows = _insert_one_by_one(rows)
    clicks = sum(1 for row in rows if isinstance(row, Click))
    engagements = sum(1 for row in rows if isinstance(row, EngagementEvent))
    return Inserted(
        impressions=len(rows) - clicks - engagements,
        clicks=clicks,
        rejected=unbuildable + offered - len(rows),
        engagements=engagements,
    )


def database_orders_inserts() -> bool:
    """Whether the database itself puts event inserts one after another (no cache lock needed)."""
    return connection.vendor in ORDERED_BY_DATABASE


def _bulk_insert(rows: list[models.Model]) -> None:
    by_model: dict[type[models.Model], list[models.Model]] = {}
    for row in rows:
        by_model.setdefault(type(row), []).append(row)
    for model, model_rows in by_model.items():
        model._default_manager.bulk_create(
            model_rows, batch_size=ROWS_PER_INSERT, ignore_conflicts=True
        )


def _insert_one_by_one(rows: list[models.Model]) -> list[models.Model]:
    """Insert each row in a savepoint of its own; the rows that the database accepted."""
    stored = []
    for row in rows:
        try:
            with transaction.atomic():
                _bulk_insert([row])
        except REFUSED:
            continue
        stored.append(row)
    return stored
