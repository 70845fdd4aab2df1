"""The demo catalog reads the order history from PostgreSQL by binary COPY: the same lines, weights
and times as the ORM's keyset queries, in chunks of the asked size."""

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from demo_shop.catalog.pg_history import copy_interaction_chunks
from demo_shop.catalog.recommendations import _line_chunks
from demo_shop.orders.checkout import place_order
from demo_shop.orders.models import Order, OrderLine
from tests.support.shop_data import make_shop

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="COPY is PostgreSQL's: run with TEST_DB=postgres",
    ),
]


def as_rows(chunks) -> list[tuple]:
    rows = []
    for chunk in chunks:
        rows += zip(
            chunk.user_ids.tolist(),
            chunk.item_ids.tolist(),
            chunk.weights.tolist(),
            np.round(chunk.timestamps, 3).tolist(),
            strict=True,
        )
    return sorted(rows)


@pytest.fixture
def orders():
    _, users = make_shop()
    for n, user in enumerate(users[:12]):
        place_order(user, {n % 7 + 1: n % 3 + 1, n % 5 + 8: 1})
    old = [user.pk for user in users[:4]]
    Order.objects.filter(user_id__in=old).update(created_at=timezone.now() - timedelta(days=40))


def test_copy_reads_what_the_orm_reads_in_chunks_of_the_asked_size(orders):
    chunks = list(copy_interaction_chunks(chunk_size=5))
    assert [len(chunk.item_ids) for chunk in chunks[:-1]] == [5] * (len(chunks) - 1)
    assert 1 <= len(chunks[-1].item_ids) <= 5
    expected = [keyed.interactions for keyed in _line_chunks(OrderLine.objects.all(), 0, 1000)]
    assert as_rows(chunks) == as_rows(expected)
    assert len(as_rows(chunks)) == OrderLine.objects.count() == 24


def test_copy_keeps_only_orders_since_the_cutoff(orders):
    since = timezone.now() - timedelta(days=30)
    recent = OrderLine.objects.filter(order__created_at__gte=since)
    expected = [keyed.interactions for keyed in _line_chunks(recent, 0, 1000)]
    assert as_rows(copy_interaction_chunks(since, chunk_size=100)) == as_rows(expected)
    assert len(as_rows(expected)) == 16


def test_an_empty_history_is_no_chunk():
    assert list(copy_interaction_chunks()) == []


def test_the_connection_is_usable_after_a_copy(orders):
    list(copy_interaction_chunks(chunk_size=7))
    assert OrderLine.objects.count() == 24
