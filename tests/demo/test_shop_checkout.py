"""Checkout: buying records an order and takes the stock, refusals leave everything as it was."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.urls import reverse

from demo_shop.orders.checkout import CheckoutError, place_order
from demo_shop.orders.models import Order, OrderLine
from recommendations.signals import purchase_completed
from tests.support.factories import make_customer, make_product


@pytest.fixture
def purchases():
    """Every purchase_completed the test causes, as (user, item_ids)."""
    sent: list[tuple] = []

    def record(sender, user, item_ids, **kwargs):
        sent.append((user, item_ids))

    purchase_completed.connect(record, weak=False)
    yield sent
    purchase_completed.disconnect(record)


@pytest.mark.django_db
def test_customer_buys_the_cart_which_records_an_order_and_takes_stock(
    client, purchases, django_capture_on_commit_callbacks
):
    customer = make_customer()
    kettle = make_product(name="Kettle", price=Decimal("20.00"), stock=5)
    mug = make_product(name="Mug", price=Decimal("4.50"), stock=3)
    client.force_login(customer)
    client.post(reverse("cart_add", args=[kettle.pk]))
    client.post(reverse("cart_add", args=[mug.pk]))
    client.post(reverse("cart_add", args=[mug.pk]))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("checkout"), follow=True)
        assert purchases == []  # nothing is announced before the order is committed

    order = Order.objects.get(user=customer)
    assert response.redirect_chain[-1][0] == reverse("order_list")
    assert f"Thank you! Order #{order.pk} is placed." in response.text
    assert order.total == Decimal("29.00")
    lines = {line.product_id: line for line in OrderLine.objects.filter(order=order)}
    assert {pk: line.quantity for pk, line in lines.items()} == {kettle.pk: 1, mug.pk: 2}
    assert lines[mug.pk].unit_price == Decimal("4.50")
    kettle.refresh_from_db()
    mug.refresh_from_db()
    assert (kettle.stock, mug.stock) == (4, 1)
    assert len(callbacks) >= 1
    assert purchases == [(customer, [str(kettle.pk), str(mug.pk)])]
    assert "Cart (0)" in response.text


def _add_then_change(client, product, **changes) -> None:
    """Put `product` in the cart while it is available, then change it (sold out, retired ...)."""
    client.post(reverse("cart_add", args=[product.pk]))
    for field, value in changes.items():
        setattr(product, field, value)
    product.save()


@pytest.mark.django_db
def test_checkout_of_an_out_of_stock_product_is_refused_and_stock_unchanged(client, purchases):
    product = make_product(name="Last Lamp", stock=1)
    client.force_login(make_customer())
    _add_then_change(client, product, stock=0)

    response = client.post(reverse("checkout"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("cart")
    assert "Sorry, Last Lamp is out of stock." in response.text
    assert not Order.objects.exists()
    product.refresh_from_db()
    assert product.stock == 0
    assert "Cart (1)" in response.text  # the cart is kept so the customer can change it
    assert purchases == []


@pytest.mark.django_db
def test_checkout_of_more_than_the_stock_is_refused(client):
    product = make_product(name="Rope Toy", stock=2)
    client.force_login(make_customer())
    for _ in range(3):
        client.post(reverse("cart_add", args=[product.pk]))

    response = client.post(reverse("checkout"), follow=True)

    assert "Sorry, Rope Toy is out of stock." in response.text
    product.refresh_from_db()
    assert product.stock == 2
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_checkout_of_an_inactive_product_is_refused_and_stock_unchanged(client):
    product = make_product(name="Retired Radio", stock=5)
    client.force_login(make_customer())
    _add_then_change(client, product, is_active=False)

    response = client.post(reverse("checkout"), follow=True)

    assert "Retired Radio is no longer sold." in response.text
    assert not Order.objects.exists()
    product.refresh_from_db()
    assert product.stock == 5


@pytest.mark.django_db
def test_one_unavailable_product_refuses_the_whole_cart(client):
    available = make_product(name="Good Pen", stock=4)
    sold_out = make_product(name="Gone Ink", stock=1)
    client.force_login(make_customer())
    client.post(reverse("cart_add", args=[available.pk]))
    _add_then_change(client, sold_out, stock=0)

    client.post(reverse("checkout"))

    available.refresh_from_db()
    assert available.stock == 4  # nothing was taken from the product that was in stock
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()


@pytest.mark.django_db
def test_checkout_of_an_empty_cart_is_refused(client):
    client.force_login(make_customer())

    response = client.post(reverse("checkout"), follow=True)

    assert "Your cart is empty." in response.text
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_anonymous_checkout_redirects_to_login(client):
    product = make_product(stock=3)
    client.post(reverse("cart_add", args=[product.pk]))

    response = client.post(reverse("checkout"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse('checkout')}"
    assert not Order.objects.exists()
    product.refresh_from_db()
    assert product.stock == 3


@pytest.mark.django_db
def test_checkout_only_accepts_post(client):
    client.force_login(make_customer())

    assert client.get(reverse("checkout")).status_code == 405


@pytest.mark.django_db
def test_place_order_refuses_a_product_that_no_longer_exists():
    with pytest.raises(CheckoutError, match="no longer exists"):
        place_order(make_customer(), {987654: 1})


def _in_thread(target, results: dict, key: str) -> threading.Thread:
    """Run `target` in a thread with its own DB connection; its result or exception lands in results."""

    def run() -> None:
        try:
            results[key] = target()
        except BaseException as error:  # any failure, assertion errors too, must reach the test
            results[key] = error
        finally:
            connection.close()  # the thread's own connection, or the test database cannot be dropped

    thread = threading.Thread(target=run, name=f"checkout-{key}")
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_checkouts_of_the_last_item_sell_it_once():
    product = make_product(name="Last One", stock=1)
    buyers = {"a": make_customer(), "b": make_customer()}
    start = threading.Barrier(2)
    results: dict = {}

    def buyer(user):
        def buy():
            start.wait(timeout=10)
            return place_order(user, {product.pk: 1})

        return buy

    threads = [_in_thread(buyer(user), results, key) for key, user in buyers.items()]
    for thread in threads:
        thread.join(timeout=30)

    orders = [r for r in results.values() if isinstance(r, Order)]
    refusals = [r for r in results.values() if isinstance(r, CheckoutError)]
    assert len(orders) == 1, results
    assert len(refusals) == 1, results
    assert "out of stock" in str(refusals[0])
    product.refresh_from_db()
    assert product.stock == 0
    assert OrderLine.objects.filter(product=product).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_checkout_waits_for_the_row_lock_then_finds_the_last_item_gone():
    product = make_product(name="Last Lamp", stock=1)
    first_buyer, second_buyer = make_customer(), make_customer()
    holding, release = threading.Event(), threading.Event()
    results: dict = {}

    def buy_and_hold():
        # The first checkout keeps its transaction (and the row lock) open until released.
        with transaction.atomic():
            order = place_order(first_buyer, {product.pk: 1})
            holding.set()
            release.wait(timeout=30)
        return order

    first = _in_thread(buy_and_hold, results, "first")
    assert holding.wait(timeout=30), results
    second = _in_thread(lambda: place_order(second_buyer, {product.pk: 1}), results, "second")

    # The second checkout must block on the locked row, not read the old stock and go ahead.
    deadline = time.monotonic() + 30
    waiting = 0
    while time.monotonic() < deadline and not waiting:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            waiting = cursor.fetchone()[0]
        time.sleep(0.05)
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)

    assert waiting == 1, "the second checkout never waited for the first one's row lock"
    assert isinstance(results["first"], Order), results
    assert isinstance(results["second"], CheckoutError), results
    assert "out of stock" in str(results["second"])
    product.refresh_from_db()
    assert product.stock == 0
