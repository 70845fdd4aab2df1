"""Run with `manage.py shell`: render the home page for a logged-in user and print what shows."""

from catalog.models import Product
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()  # the test client's host, as Django's docs show for the shell
for number in range(6):
    Product.objects.create(name=f"Product {number}", is_active=number != 5)
user = get_user_model().objects.create_user("customer", password="not-used")
client = Client()
client.force_login(user)
response = client.get("/")
html = response.content.decode()
print("status", response.status_code)
print("source", "fallback" if 'data-source="fallback"' in html else "none")
print("products", sorted(name for name in (f"Product {n}" for n in range(6)) if name in html))
