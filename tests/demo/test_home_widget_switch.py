"""The demo's DEMO_RECOMMENDATIONS_WIDGET switch: the home page with and without the widget."""

import pytest
from django.test import override_settings
from django.urls import reverse

from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

# No endpoint is reachable: a closed port, so the widget falls back at once.
OFFLINE = {
    "ENDPOINT_NAME": "offline",
    "ENDPOINT_URL": "http://127.0.0.1:9",
    "CATALOG": "demo_shop.catalog.recommendations.DemoCatalog",
}


@pytest.mark.parametrize(("switch", "shown"), [(True, True), (False, False)])
def test_home_page_widget_follows_the_demo_switch(client, switch, shown):
    make_shop()
    with override_settings(RECOMMENDATIONS=OFFLINE, DEMO_RECOMMENDATIONS_WIDGET=switch):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    assert ('class="recommendations"' in response.content.decode()) is shown
    assert "New in the shop" in response.content.decode()
