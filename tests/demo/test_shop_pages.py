"""The demo shop's pages: home, product, category, image, cart and order history."""

import pytest
from django.urls import reverse

from tests.support.factories import make_category, make_customer, make_order, make_product

pytestmark = pytest.mark.django_db


def test_home_page_lists_available_products_and_departments(client):
    garden = make_category(name="Garden")
    shown = make_product(name="Cedar Planter", category=garden)
    hidden = make_product(name="Retired Trowel", category=garden, is_active=False)
    sold_out = make_product(name="Sold Out Kneeler", category=garden, stock=0)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert shown.name in response.text
    assert shown.get_absolute_url() in response.text
    assert hidden.name not in response.text
    assert sold_out.name not in response.text
    assert reverse("category_detail", args=[garden.slug]) in response.text


def test_product_page_shows_price_description_and_add_to_cart(client):
    product = make_product(name="Copper Kettle", description="Whistles when ready.", stock=7)

    response = client.get(product.get_absolute_url())

    assert response.status_code == 200
    assert "Copper Kettle" in response.text
    assert "Whistles when ready." in response.text
    assert f"€{product.price}" in response.text
    assert "7 in stock" in response.text
    assert reverse("cart_add", args=[product.pk]) in response.text


def test_product_page_of_an_unavailable_product_has_no_buy_button(client):
    product = make_product(stock=0)

    response = client.get(product.get_absolute_url())

    assert response.status_code == 200
    assert "Not available" in response.text
    assert reverse("cart_add", args=[product.pk]) not in response.text


def test_unknown_product_is_404(client):
    assert client.get(reverse("product_detail", args=["no-such-thing"])).status_code == 404


def test_category_page_lists_only_its_available_products(client):
    kitchen, garden = make_category(name="Kitchen"), make_category(name="Garden")
    wok = make_product(name="Carbon Wok", category=kitchen)
    trowel = make_product(name="Steel Trowel", category=garden)
    inactive = make_product(name="Old Pan", category=kitchen, is_active=False)

    response = client.get(reverse("category_detail", args=[kitchen.slug]))

    assert response.status_code == 200
    assert wok.name in response.text
    assert trowel.name not in response.text
    assert inactive.name not in response.text


def test_product_image_is_a_generated_svg_with_the_initials(client):
    product = make_product(name="Walnut Radio")

    response = client.get(product.get_image_url())

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")
    assert b">WR</text>" in response.content


def test_cart_adds_lists_and_removes_products(client):
    product = make_product(name="Linen Throw")

    response = client.post(reverse("cart_add", args=[product.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("cart")
    assert "Linen Throw is in your cart." in response.text
    assert "Cart (1)" in response.text

    client.post(reverse("cart_add", args=[product.pk]))
    assert "Cart (2)" in client.get(reverse("cart")).text

    response = client.post(reverse("cart_remove", args=[product.pk]), follow=True)
    assert "Your cart is empty." in response.text


def test_adding_an_unavailable_product_to_the_cart_is_refused_with_a_message(client):
    product = make_product(name="Rare Vase", stock=0)

    response = client.post(reverse("cart_add", args=[product.pk]), follow=True)

    assert response.redirect_chain[-1][0] == product.get_absolute_url()
    assert "Sorry, Rare Vase is not available." in response.text
    assert "Cart (0)" in response.text


def test_anonymous_cart_asks_to_log_in_before_checkout(client):
    client.post(reverse("cart_add", args=[make_product().pk]))

    response = client.get(reverse("cart"))

    assert "to check out" in response.text
    assert reverse("checkout") not in response.text


def test_order_history_shows_only_the_customers_own_orders(client):
    customer, other = make_customer(), make_customer()
    mine = make_order(customer, [make_product(name="My Teapot")], quantity=2)
    make_order(other, [make_product(name="Their Hammer")])
    client.force_login(customer)

    response = client.get(reverse("order_list"))

    assert response.status_code == 200
    assert f"Order #{mine.pk}" in response.text
    assert "2 \N{MULTIPLICATION SIGN} <a" in response.text
    assert "My Teapot" in response.text
    assert "Their Hammer" not in response.text


def test_login_page_logs_a_customer_in(client):
    make_customer(username="customer1", password="demo-shop")

    assert "demo-shop" in client.get(reverse("login")).text
    response = client.post(
        reverse("login"), {"username": "customer1", "password": "demo-shop"}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("home")
    assert "Hello, customer1" in response.text
