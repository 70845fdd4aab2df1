"""Synthetic shoppers for the demo: seeded customers who look at the home page and click what suits
their tastes, through the real stack (middleware, template tag, service, cache, endpoint, the
signed click redirect), so that the measurement report has something true to say.

A customer's tastes are the categories they bought most (their top FAVOURITES by quantity). Each
visit renders the home page; the visitor looks down the widget and clicks an item with probability
`taste_rate` (in a favourite category) or `base_rate` (elsewhere), times `position_decay` per place
below the first; the first click ends the visit, which then lands on the product page.
"""

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db.models import Sum
from django.test import Client

from demo_shop.catalog.models import Product
from demo_shop.orders.models import OrderLine

WIDGET = re.compile(
    r'<section class="recommendations"[^>]*data-source="(?P<source>\w+)"'
    r'[^>]*data-request-id="(?P<request_id>\w+)".*?</section>',
    re.S,
)
ITEM = re.compile(r'data-item-id="(?P<item_id>[^"]+)"[^>]*>\s*<a href="(?P<href>[^"]+)"')


@dataclass(frozen=True)
class ClickModel:
    """How likely a shopper is to click an item: by taste, and less so further down the list."""

    base_rate: float = 0.01  # an item outside the shopper's favourite categories
    taste_rate: float = 0.06  # an item in one of them
    position_decay: float = 0.85  # each place down the list multiplies the chance by this
    favourites: int = 2  # how many top categories count as the shopper's tastes

    def probability(self, in_taste: bool, position: int) -> float:
        """The chance of a click on an item at `position` (1 = first)."""
        rate = self.taste_rate if in_taste else self.base_rate
        return rate * self.position_decay ** (position - 1)


@dataclass
class Visit:
    """What one synthetic visit saw and did."""

    request_id: str | None
    source: str | None
    items: int = 0
    clicked_item: str | None = None
    clicked_position: int | None = None
    landed_status: int | None = None  # the product page's status after the redirect


@dataclass
class Simulation:
    """Every visit of a run, in order."""

    visits: list[Visit] = field(default_factory=list)

    @property
    def widgets(self) -> int:
        return sum(1 for visit in self.visits if visit.request_id)

    @property
    def clicks(self) -> int:
        return sum(1 for visit in self.visits if visit.clicked_item)

    @property
    def sources(self) -> Counter:
        return Counter(visit.source or "none" for visit in self.visits)


def favourite_categories(user_ids: Iterable[int], count: int) -> dict[int, set[int]]:
    """Each customer's `count` most bought categories (by quantity), in one query."""
    totals: dict[int, Counter] = defaultdict(Counter)
    rows = (
        OrderLine.objects.filter(order__user_id__in=list(user_ids))
        .values_list("order__user_id", "product__category_id")
        .annotate(quantity=Sum("quantity"))
        .order_by()
    )
    for user_id, category_id, quantity in rows:
        totals[user_id][category_id] += quantity
    return {
        user_id: {category for category, _ in counter.most_common(count)}
        for user_id, counter in totals.items()
    }


def logged_in_client(user, host: str) -> Client:
    """A test Client with a session for `user`, made as a login would make it (no login signal:
    a real login would also ask Celery to prefetch, which a simulation must not flood)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    client = Client(HTTP_HOST=host)
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return client


def request_host() -> str:
    """A host name the shop's ALLOWED_HOSTS accepts, for the in-process client."""
    for host in settings.ALLOWED_HOSTS:
        if host == "*":
            return "testserver"
        if not host.startswith("."):
            return host
    return "testserver"


def visit_home(
    client: Client,
    tastes: set[int],
    category_of: dict[int, int],
    model: ClickModel,
    rng: random.Random,
) -> Visit:
    """One look at the home page, maybe one click through the widget and onto the product page."""
    page = client.get("/")
    if page.status_code != 200:
        raise RuntimeError(f"the home page answered {page.status_code}")
    widget = WIDGET.search(page.content.decode())
    if widget is None:
        return Visit(request_id=None, source=None)
    items = ITEM.findall(widget.group(0))
    visit = Visit(widget.group("request_id"), widget.group("source"), items=len(items))
    for position, (item_id, href) in enumerate(items, start=1):
        in_taste = category_of.get(int(item_id)) in tastes
        if rng.random() < model.probability(in_taste, position):
            redirect = client.get(href.replace("&amp;", "&"))
            visit.clicked_item, visit.clicked_position = item_id, position
            if redirect.status_code in (301, 302):
                visit.landed_status = client.get(redirect["Location"]).status_code
            break
    return visit


def simulate(
    customers: list,
    visits: int,
    seed: int,
    model: ClickModel,
    progress: Callable[[int], None] | None = None,
    visit: Callable[..., Visit] = visit_home,
) -> Simulation:
    """`visits` visits by customers drawn at random (seeded) from `customers`; each is
    `visit(client, tastes, category_of, model, rng)` (arm_visits.py adds the control arm)."""
    rng = random.Random(seed)
    tastes = favourite_categories([c.pk for c in customers], model.favourites)
    category_of = dict(Product.objects.values_list("pk", "category_id"))
    host = request_host()
    clients: dict[int, Client] = {}
    simulation = Simulation()
    for number in range(visits):
        customer = rng.choice(customers)
        if customer.pk not in clients:
            clients[customer.pk] = logged_in_client(customer, host)
        simulation.visits.append(
            visit(clients[customer.pk], tastes.get(customer.pk, set()), category_of, model, rng)
        )
        if progress is not None:
            progress(number + 1)
    return simulation
