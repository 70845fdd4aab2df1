"""Synthetic shoppers for the demo: seeded customers who look at the home page and click what they
would buy, through the real stack (middleware, template tag, service, cache, endpoint, the signed
click redirect), so that the measurement report has something true to say.

The click model is a position-based one (the examination hypothesis): a shopper examines the
item at position p with chance `position_decay ** (p - 1)` and, having examined it, clicks it
with the item's attraction. By default (`NEXT_PURCHASE`) the attraction is the purchase
generator's own chance that the item is the customer's next purchase, given the orders seed_demo
drew for them (shopper_tastes.py, demo_purchases.next_line_chances): so a list that ranks the
next purchase first is clicked more. The older `TOPICS` model is kept for comparison: the
attraction is `base_rate + (taste_rate - base_rate) * fit`, fit (0..1) being how well the item
suits the customer's topics. Either way the visitor looks down the list from the top, the first
click ends the visit, which then lands on the product page. docs/demo-data.md, "The simulated
shoppers", says why these parameters.
"""

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.test import Client

from .shopper_tastes import Tastes, favourite_categories, shopper_tastes

__all__ = [
    "CLICK_MODELS",
    "NEXT_PURCHASE",
    "TOPICS",
    "ClickModel",
    "Simulation",
    "Visit",
    "favourite_categories",
    "simulate",
    "visit_home",
]

WIDGET = re.compile(
    r'<section class="recommendations"[^>]*data-source="(?P<source>\w+)"'
    r'[^>]*data-request-id="(?P<request_id>\w+)".*?</section>',
    re.S,
)
ITEM = re.compile(r'data-item-id="(?P<item_id>[^"]+)"[^>]*>\s*<a href="(?P<href>[^"]+)"')


NEXT_PURCHASE = "next-purchase"
TOPICS = "topics"
CLICK_MODELS = (NEXT_PURCHASE, TOPICS)


@dataclass(frozen=True)
class ClickModel:
    """How likely a shopper is to click an item: examination by position times attraction."""

    kind: str = NEXT_PURCHASE  # NEXT_PURCHASE or TOPICS: where the attraction comes from
    position_decay: float = 0.85  # each place down the list multiplies the examination by this
    base_rate: float = 0.01  # TOPICS: the attraction of an item that does not suit (fit 0)
    taste_rate: float = 0.06  # TOPICS: the attraction of an item squarely in the tastes (fit 1)

    def examination(self, position: int) -> float:
        """The chance that the shopper looks at the item at `position` (1 = first)."""
        return self.position_decay ** (position - 1)

    def attraction(self, tastes: Tastes, user_id: int, item_ids: list[int]) -> list[float]:
        """Each item's chance of a click once examined. Tastes without a generator behind them
        (no seed record) have no next-purchase chances: the TOPICS formula stands in."""
        if self.kind == NEXT_PURCHASE:
            chances = tastes.next_purchase(user_id, item_ids)
            if chances is not None:
                return chances
        spread = self.taste_rate - self.base_rate
        return [self.base_rate + spread * fit for fit in tastes.fit(user_id, item_ids)]

    def probabilities(self, tastes: Tastes, user_id: int, item_ids: list[int]) -> list[float]:
        """The chance of a click on each item of a list shown in this order."""
        attractions = self.attraction(tastes, user_id, item_ids)
        return [
            attraction * self.examination(position)
            for position, attraction in enumerate(attractions, start=1)
        ]


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
    user_id: int,
    tastes: Tastes,
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
    chances = model.probabilities(tastes, user_id, [int(item_id) for item_id, _ in items])
    for position, ((item_id, href), chance) in enumerate(zip(items, chances, strict=True), start=1):
        if rng.random() < chance:
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
    `visit(client, user_id, tastes, model, rng)` (arm_visits.py adds the control arm)."""
    rng = random.Random(seed)
    tastes = shopper_tastes(customers)
    host = request_host()
    clients: dict[int, Client] = {}
    simulation = Simulation()
    for number in range(visits):
        customer = rng.choice(customers)
        if customer.pk not in clients:
            clients[customer.pk] = logged_in_client(customer, host)
        simulation.visits.append(visit(clients[customer.pk], customer.pk, tastes, model, rng))
        if progress is not None:
            progress(number + 1)
    return simulation
