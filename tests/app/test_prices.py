"""Prices the shop's way (#26 item 4): the card and the JSON API show the shop's currency in the
visitor's number format, an adapter's own format wins, and no template writes a currency."""

import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

import recommendations
from recommendations.checks import check_settings
from recommendations.prefetch import entries
from recommendations.serving import rendering
from tests.app.shop.catalog import ShopCatalog

# No endpoint is reachable in these tests: a closed port, so the pages read the prefetched entry.
OFFLINE = {
    "ENDPOINT_NAME": "offline",
    "ENDPOINT_URL": "http://127.0.0.1:9",
    "PRODUCT_MODEL": "shop.Product",
    "CATALOG": "tests.app.shop.catalog.ShopCatalog",
}
TEMPLATES = Path(recommendations.__file__).parent / "templates"


class VatCatalog(ShopCatalog):
    """A shop that formats its prices itself (named by dotted path in CATALOG below)."""

    def format_price(self, product, price):
        return f"{price} pounds incl. VAT"


class DescribingCatalog(ShopCatalog):
    """A shop whose describe() gives the price as shown and its currency itself."""

    def describe(self, product):
        return {**super().describe(product), "price_display": "ask us", "currency": "XTS"}


@pytest.fixture(autouse=True)
def no_kept_cards():
    rendering.forget_cards()
    yield
    rendering.forget_cards()


def widget_and_api(client, shop, **settings):
    """The widget fragment's HTML and the JSON API's items for a shopper with products 2 to 4."""
    _, users = shop
    entries.write_entry(users[0].pk, ["2", "3", "4"], "v1")
    client.force_login(users[0])
    with override_settings(RECOMMENDATIONS={**OFFLINE, **settings}):
        html = client.get(reverse("recommendations:widget"), {"limit": 3}).content.decode()
        items = client.get(reverse("recommendations:api"), {"limit": 3}).json()["items"]
    assert [item["item_id"] for item in items] == ["2", "3", "4"]
    return html, items


@pytest.mark.django_db
def test_a_pound_shop_shows_pounds_and_never_euros(client, shop):
    html, items = widget_and_api(client, shop, CURRENCY="GBP")
    assert html.count('<span class="price">£9.50</span>') == 3
    assert "€" not in html
    assert {item["price"] for item in items} == {"9.50"}  # the raw amount, as before
    assert {item["price_display"] for item in items} == {"£9.50"}
    assert {item["currency"] for item in items} == {"GBP"}


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="de", USE_THOUSAND_SEPARATOR=True)
def test_a_locale_with_comma_decimals_formats_the_price_its_way(client, shop):
    products, _ = shop
    products[2].price = Decimal("1234.5")
    products[2].save()
    html, items = widget_and_api(client, shop, CURRENCY="EUR")
    assert '<span class="price">€1.234,50</span>' in html
    assert '<span class="price">€9,50</span>' in html
    assert "9.50" not in html
    assert [item["price"] for item in items] == ["9.50", "1234.50", "9.50"]


@pytest.mark.django_db
def test_the_same_card_in_two_languages_is_two_cards(client, shop):
    # Kept cards are keyed by language and the price as shown: no English price on a French page.
    _, english = widget_and_api(client, shop, CURRENCY="EUR")
    with override_settings(LANGUAGE_CODE="fr"):
        html, _ = widget_and_api(client, shop, CURRENCY="EUR")
    assert english[0]["price_display"] == "€9.50"
    assert "€9,50" in html and "€9.50" not in html


@pytest.mark.django_db
def test_an_adapters_own_format_price_wins(client, shop):
    html, items = widget_and_api(
        client, shop, CURRENCY="EUR", CATALOG="tests.app.test_prices.VatCatalog"
    )
    assert html.count("9.50 pounds incl. VAT") == 3
    assert "€" not in html
    assert items[0]["price_display"] == "9.50 pounds incl. VAT"


@pytest.mark.django_db
def test_what_describe_gives_wins_over_format_price(client, shop):
    html, items = widget_and_api(
        client, shop, CURRENCY="EUR", CATALOG="tests.app.test_prices.DescribingCatalog"
    )
    assert html.count('<span class="price">ask us</span>') == 3
    assert (items[0]["price_display"], items[0]["currency"]) == ("ask us", "XTS")


def test_currencies_without_a_symbol_of_their_own_show_their_code():
    catalog = ShopCatalog()
    with override_settings(RECOMMENDATIONS={**OFFLINE, "CURRENCY": "CHF"}):
        assert catalog.format_price(None, Decimal("12.5")) == "CHF\u00a012.50"
    with override_settings(RECOMMENDATIONS={**OFFLINE, "CURRENCY": "JPY"}):
        assert catalog.format_price(None, 1200) == "¥1200"
    with override_settings(RECOMMENDATIONS=OFFLINE), translation.override("de"):
        assert catalog.format_price(None, Decimal("12.5")) == "12,50"  # no currency: the number
        assert catalog.format_price(None, None) is None


def test_no_template_of_the_app_writes_a_currency():
    # Any character of Unicode's currency-symbol category (€, £, $, ¥, ...) in the app's templates.
    found = {
        str(path.relative_to(TEMPLATES)): sorted(
            {c for c in path.read_text(encoding="utf-8") if unicodedata.category(c) == "Sc"}
        )
        for path in TEMPLATES.rglob("*.html")
    }
    assert found  # the card and the frame are there to look at
    assert {name: symbols for name, symbols in found.items() if symbols} == {}


def warnings_with(**settings):
    with override_settings(RECOMMENDATIONS={**OFFLINE, **settings}):
        return [m.id for m in check_settings() if m.id == "recommendations.W004"]


def test_a_check_warns_while_priced_products_have_no_currency():
    assert warnings_with() == ["recommendations.W004"]
    assert warnings_with(CURRENCY="GBP") == []
    assert warnings_with(CATALOG="tests.app.test_prices.VatCatalog") == []


@pytest.mark.parametrize("value", ["£", "gbp", "EURO", "E1R", 826])
def test_currency_must_be_an_iso_code(value):
    with override_settings(RECOMMENDATIONS={**OFFLINE, "CURRENCY": value}):
        assert "recommendations.E028" in [m.id for m in check_settings()]
