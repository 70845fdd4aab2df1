"""Synthetic shoppers for the demo: seeded customers who look at the home page and click what suits
their tastes, through the real stack (middleware, template tag, service, cache, endpoint, the
signed click redirect), so that the measurement report has something true to say.

A customer's tastes are the latent ones seed_demo drew their orders from (shopper_tastes.py): a
mix of topics that span categories, and the follow-ups of what they bought. Each visit renders the
home page; the visitor looks down the widget and clicks an item with probability
`base_rate + (taste_rate - base_rate) * fit`, where fit (0..1) is how well the item suits their
tastes, times `position_decay` per place below the first; the first click ends the visit, which
then lands on the product page.
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

__all__ = ["ClickModel", "Simulation", "Visit", "favourite_categories", "simulate", "visit_home"]

WIDGET = re.compile(
    r'<section class="recommendations"[^>]*data-source="(?P<source>\w+)"'
    r'[^>]*data-request-id="(?P<request_id>\w+)".*?</section>',
    re.S,
)
ITEM = re.compile(r'data-item-id="(?P<item_id>[^"]+)"[^>]*>\s*<a href="(?P<href>[^"]+)"')


@dataclass(frozen=True)
class ClickModel:
    """How likely a shopper is to click an item: by taste, and less so further down the list."""

    base_rate: float = 0.01  # an item that does not suit the shopper at all (fit 0)
    taste_rate: float = 0.06  # an item squarely in their tastes (fit 1)
    position_decay: float = 0.85  # each place down the list multiplies the chance by this

    def probability(self, fit: float, position: int) -> float:
        """The chance of a click on an item of `fit` (0..1) at `position` (1 = first)."""
        rate = self.base_rate + (self.taste_rate - self.base_rate) * fit
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
    fits = tastes.fit(user_id, [int(item_id) for item_id, _ in items])
    for position, ((item_id, href), fit) in enumerate(zip(items, fits, strict=True), start=1):
        if rng.random() < model.probability(fit, position):
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
