import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_home_page_renders_on_an_empty_shop(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"No products yet" in response.content
