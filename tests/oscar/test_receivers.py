"""Oscar's order_placed, sent on as purchase_completed once the order commits."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed():
    """The purchase_completed signals sent during the test: (user pk, item ids)."""
    from recommendations.signals import purchase_completed

    sent = []

    def record(sender, user, item_ids, **kwargs):
        sent.append((user.pk, item_ids))

    purchase_completed.connect(record, dispatch_uid="test.completed")
    yield sent
    purchase_completed.disconnect(dispatch_uid="test.completed")


def test_a_customers_order_is_sent_on_when_it_commits(
    customer, make_product, buy, completed, django_capture_on_commit_callbacks
):
    lamp, pen = make_product("Lamp"), make_product("Pen")

    with django_capture_on_commit_callbacks() as callbacks:
        buy(customer, lamp, pen, quantity=2)
        assert completed == []  # nothing before the commit
    for callback in callbacks:
        callback()

    assert completed == [(customer.pk, [str(lamp.pk), str(pen.pk)])]


def test_a_guests_order_is_sent_to_nobody(
    make_product, buy, completed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        buy(None, make_product("Lamp"))

    assert completed == []
