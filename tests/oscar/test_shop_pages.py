"""The widget on Oscar's catalogue page (`/`, which Oscar redirects to `/catalogue/`), and an order
placed through Oscar's checkout."""

import re

import pytest
from django.test import override_settings


def widget_names(html: str) -> list[str]:
    """The product names in the widget's cards, in order ([] when no widget is on the page)."""
    widget = re.search(r'<section class="recommendations".*?</section>', html, re.S)
    if widget is None:
        return []
    return re.findall(r'<a class="name" href="[^"]*"[^>]*>([^<]*)</a>', widget.group(0))


def home(client) -> str:
    """The HTML of the page a customer lands on at `/`."""
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/catalogue/", 302)]
    return response.content.decode()


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


@pytest.mark.django_db
def test_the_catalogue_page_shows_the_widget_to_a_signed_in_customer(signed_in, make_product):
    make_product("Teapot", price="24.00")
    make_product("Kettle", price="1250.00")
    make_product("Sold out", stock=0)

    html = home(signed_in)

    assert 'data-source="fallback"' in html  # BACKEND "none": the fallback ranking serves
    assert sorted(widget_names(html)) == ["Kettle", "Teapot"]
    assert "£1,250.00" in html  # Oscar's currency filter, OSCAR_DEFAULT_CURRENCY
    assert html.index('class="recommendations"') < html.index("results")  # above the products


def checkout(client, product) -> None:
    """Buy one `product` through Oscar's checkout views, as a signed-in customer does."""
    response = client.post(f"/basket/add/{product.pk}/", {"quantity": 1})
    assert response.status_code == 302
    assert client.get("/checkout/").url == "/checkout/shipping-address/"
    address = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "line1": "1 King Road",
        "line4": "London",
        "postcode": "N1 7GU",
        "country": "GB",
    }
    response = client.post("/checkout/shipping-address/", address)
    assert response.status_code == 302, response.content.decode()[:2000]
    # One shipping method (Oscar's Free) and no payment to take: on to the last step.
    response = client.get("/checkout/shipping-method/", follow=True)
    assert response.redirect_chain[-1][0] == "/checkout/payment-details/"
    assert response.status_code == 200
    response = client.post("/checkout/preview/", {"action": "place_order"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response.url == "/checkout/thank-you/"


@pytest.mark.django_db(transaction=True)
def test_an_order_placed_through_oscars_checkout_takes_the_item_off_the_widget(
    signed_in, customer, make_product
):
    from oscar.apps.order.signals import order_placed
    from oscar.test.factories import CountryFactory

    from recommendations.signals import purchase_completed

    CountryFactory(is_shipping_country=True)
    teapot = make_product("Teapot")
    make_product("Kettle")
    placed, completed = [], []

    def record_placed(sender, order, **kwargs):
        placed.append(order.number)

    def record_completed(sender, user, item_ids, **kwargs):
        completed.append((user.pk, item_ids))

    order_placed.connect(record_placed, dispatch_uid="test.order_placed")
    purchase_completed.connect(record_completed, dispatch_uid="test.purchase_completed")
    try:
        assert sorted(widget_names(home(signed_in))) == ["Kettle", "Teapot"]
        checkout(signed_in, teapot)
    finally:
        order_placed.disconnect(dispatch_uid="test.order_placed")
        purchase_completed.disconnect(dispatch_uid="test.purchase_completed")

    assert len(placed) == 1  # sent by Oscar's OrderCreator, not by this test
    assert completed == [(customer.pk, [str(teapot.pk)])]  # after the checkout's commit
    assert widget_names(home(signed_in)) == ["Kettle"]


@pytest.mark.django_db
def test_a_product_whose_stock_runs_out_leaves_the_widget_at_once(signed_in, make_product):
    teapot = make_product("Teapot")
    make_product("Kettle")
    assert sorted(widget_names(home(signed_in))) == ["Kettle", "Teapot"]

    record = teapot.stockrecords.get()
    record.num_in_stock = 0
    record.save()  # as Oscar's dashboard saves it

    assert widget_names(home(signed_in)) == ["Kettle"]


def test_the_check_warns_when_oscars_own_browse_template_comes_first():
    from django.conf import settings

    from recommendations.contrib.oscar.checks import check_browse_template

    assert check_browse_template() == []
    after_oscar = [app for app in settings.INSTALLED_APPS if app != "recommendations.contrib.oscar"]
    after_oscar.insert(after_oscar.index("oscar.config.Shop") + 1, "recommendations.contrib.oscar")
    with override_settings(INSTALLED_APPS=after_oscar):
        assert [message.id for message in check_browse_template()] == ["recommendations.W008"]
