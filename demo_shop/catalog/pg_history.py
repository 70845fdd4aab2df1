"""The order history out of PostgreSQL as numpy arrays, by binary COPY: what the fallback reads.

Reading 10M order lines through the ORM costs about a minute of Python objects (a tuple per
line, a converter call and a float object per value, a keyset query per chunk joined line by
line). `COPY (SELECT ...) TO STDOUT (FORMAT binary)` streams the join (one hash join) as
fixed-width rows, which numpy reads as they come, a chunk at a time.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection

from demo_shop.orders.models import Order, OrderLine
from recommendations.catalog import InteractionChunk

# One row of the binary COPY: a field count, then per field its byte length and a big-endian value.
ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("user_length", ">i4"),
        ("user", ">i8"),
        ("item_length", ">i4"),
        ("item", ">i8"),
        ("weight_length", ">i4"),
        ("weight", ">f8"),
        ("seconds_length", ">i4"),
        ("seconds", ">f8"),
    ]
)
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = len(SIGNATURE) + 8  # signature, flags (int32), header extension length (int32)
TRAILER = b"\xff\xff"


class CopyFormatError(ValueError):
    """The COPY stream is not the fixed-width binary layout this module reads."""


def history_query(since: datetime | None) -> tuple[str, list]:
    """The SELECT whose rows are (user id, product id, quantity, order time in epoch seconds)."""
    quote = connection.ops.quote_name
    line, order = OrderLine._meta, Order._meta
    # Only names from the models' metadata, quoted, go into the text; values are parameters.
    query = (
        f"SELECT o.{quote(order.get_field('user').column)}::int8, "  # noqa: S608
        f"l.{quote(line.get_field('product').column)}::int8, "
        f"l.{quote(line.get_field('quantity').column)}::float8, "
        f"EXTRACT(EPOCH FROM o.{quote(order.get_field('created_at').column)})::float8 "
        f"FROM {quote(line.db_table)} l JOIN {quote(order.db_table)} o "
        f"ON o.{quote(order.pk.column)} = l.{quote(line.get_field('order').column)}"
    )
    params: list = []
    if since is not None:
        query += f" WHERE o.{quote(order.get_field('created_at').column)} >= %s"
        params.append(since)
    return query, params


def copy_interaction_chunks(
    since: datetime | None = None, chunk_size: int = 100_000
) -> Iterator[InteractionChunk]:
    """Every order line (of orders since `since`) as chunks of at most `chunk_size` lines."""
    query, params = history_query(since)
    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection: COPY is not in the DB-API
    buffer = bytearray()
    started = False
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)", params) as copy,
    ):
        for data in _messages(raw.pgconn, copy):
            buffer += data
            if not started:
                if len(buffer) < HEADER:
                    continue
                if bytes(buffer[: len(SIGNATURE)]) != SIGNATURE:
                    raise CopyFormatError("not a PostgreSQL binary COPY stream")
                extension = int.from_bytes(buffer[HEADER - 4 : HEADER], "big")
                del buffer[: HEADER + extension]
                started = True
            while len(buffer) >= chunk_size * ROW.itemsize:
                yield _chunk(buffer, chunk_size)
    rows = len(buffer) // ROW.itemsize
    if bytes(buffer[rows * ROW.itemsize :]) != TRAILER:
        raise CopyFormatError("the COPY stream did not end where a row ends")
    if rows:
        yield _chunk(buffer, rows)


def _messages(pgconn: Any, copy: Any) -> Iterator[Any]:
    """The COPY's data messages (one per row), read from libpq while they are there.

    psycopg's own iteration costs a few microseconds a row in generator steps (most of a minute
    at 10M lines); `PGconn.get_copy_data` without blocking is one C call. When nothing has
    arrived yet, `copy.read()` waits; after the trailer it reads the final result as psycopg does.
    """
    while True:
        size, data = pgconn.get_copy_data(1)
        if size > 0:
            yield data
            if _is_last(data, size):
                break  # the last message; psycopg reads what follows (the final result)
            continue
        if size < 0:
            raise CopyFormatError("the COPY stream ended without its trailer")
        data = copy.read()  # nothing yet: wait for the next message
        if not data:
            return
        yield data
    while data := copy.read():
        yield data


def _is_last(data: Any, size: int) -> bool:
    """Whether a message is the trailer (after the last row, or with the header: no rows)."""
    if size == len(TRAILER):
        return bytes(data) == TRAILER
    return (
        size == HEADER + len(TRAILER)
        and bytes(data[: len(SIGNATURE)]) == SIGNATURE
        and bytes(data[-len(TRAILER) :]) == TRAILER
    )


def _chunk(buffer: bytearray, rows: int) -> InteractionChunk:
    """The first `rows` rows of `buffer` as a chunk, removed from the buffer."""
    size = rows * ROW.itemsize
    table = np.frombuffer(bytes(buffer[:size]), dtype=ROW)
    del buffer[:size]
    if (table["fields"] != 4).any() or (table["user_length"] != 8).any():
        # A NULL (length -1) or a column of another type would shift every following row.
        raise CopyFormatError("a row is not four 8-byte values")
    return InteractionChunk(
        user_ids=table["user"].astype(np.int64),
        item_ids=table["item"].astype(np.int64),
        weights=table["weight"].astype(np.float32),
        timestamps=table["seconds"].astype(np.float64),
    )
