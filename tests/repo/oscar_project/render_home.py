"""Run with `manage.py shell`: what customer-0 sees at `/` (Oscar's catalogue page), as one line
`page {json}`, with what they bought.

The backend is warmed up first, as the wsgi.py of docs/installation.md does in a web process, and
the page is viewed twice: the first page of a new process spends its budget on compiling Oscar's
templates (docs/oscar.md), the second is what the process serves from then on.
"""

import json
import re

from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
from oscar.core.loading import get_model

from recommendations.backends import get_backend

setup_test_environment()  # the test client's host, as Django's docs show for the shell
get_backend().warm_up("page")
customer = get_user_model().objects.get(username="customer-0")
client = Client()
client.force_login(customer)
first = client.get("/", follow=True).content.decode()
response = client.get("/", follow=True)
html = response.content.decode()
widget = re.search(r'<section class="recommendations".*?</section>', html, re.S)
cards = widget.group(0) if widget else ""
lines = get_model("order", "Line").objects.filter(order__user=customer)
shown = {
    "status": response.status_code,
    "at": response.redirect_chain[-1][0] if response.redirect_chain else "/",
    "source": re.search(r'data-source="(\w+)"', cards).group(1) if widget else None,
    "first_source": (
        re.findall(r'<section class="recommendations"[^>]*data-source="(\w+)"', first, re.S)
        or [None]
    )[0],
    "products": re.findall(r'<a class="name" href="[^"]*"[^>]*>([^<]*)</a>', cards),
    "prices": re.findall(r'<span class="price">([^<]*)</span>', cards),
    "bought": sorted(set(lines.values_list("product__title", flat=True))),
}
print("page", json.dumps(shown))
