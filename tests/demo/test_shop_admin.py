"""The demo shop's admin: catalog and orders can be browsed, searched and filtered."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.support.factories import make_category, make_customer, make_order, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "demo-shop")
    client.force_login(admin)
    return client


def test_product_changelist_searches_and_filters_by_availability(staff_client):
    kitchen = make_category(name="Kitchen")
    make_product(name="Copper Kettle", category=kitchen)
    make_product(name="Empty Teapot", category=kitchen, stock=0)
    make_product(name="Old Whisk", category=kitchen, is_active=False)
    url = reverse("admin:catalog_product_changelist")

    everything = staff_client.get(url)
    searched = staff_client.get(url, {"q": "kettle"})
    sold_out = staff_client.get(url, {"availability": "out_of_stock"})
    available = staff_client.get(url, {"availability": "available"})

    assert everything.status_code == 200
    assert {"Copper Kettle", "Empty Teapot", "Old Whisk"} <= set(_names(everything))
    assert _names(searched) == ["Copper Kettle"]
    assert _names(sold_out) == ["Empty Teapot"]
    assert _names(available) == ["Copper Kettle"]


def _names(response) -> list[str]:
    return [str(product) for product in response.context["cl"].result_list]


def test_category_changelist_counts_products(staff_client):
    garden = make_category(name="Garden")
    make_product(category=garden)
    make_product(category=garden)

    response = staff_client.get(reverse("admin:catalog_category_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_list[0].product_count == 2


def test_order_changelist_searches_by_customer_and_shows_line_counts(staff_client):
    alice, bob = make_customer(username="alice"), make_customer(username="bob")
    alices = make_order(alice, [make_product(), make_product()])
    make_order(bob, [make_product()])
    url = reverse("admin:orders_order_changelist")

    response = staff_client.get(url, {"q": "alice"})

    assert response.status_code == 200
    assert [order.pk for order in response.context["cl"].result_list] == [alices.pk]
    assert response.context["cl"].result_list[0].line_count == 2
    assert staff_client.get(url, {"q": str(alices.pk)}).status_code == 200


def test_order_change_page_shows_its_lines_inline(staff_client):
    kettle = make_product(name="Copper Kettle")
    order = make_order(make_customer(), [kettle], quantity=3)

    response = staff_client.get(reverse("admin:orders_order_change", args=[order.pk]))

    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    assert [form.original.product for form in inline if form.original] == [kettle]
    assert f"{kettle.price * 3:.2f}" in response.text
