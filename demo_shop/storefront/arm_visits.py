"""Simulated visits in every arm, the control arm (no widget) included, for `simulate_shoppers`.

Every visitor does the same thing, minus what their arm does not show:

1. the home page (in the control arm its widget slot stays empty, but the visit is counted);
2. the widget, if their arm shows one: `shoppers.visit_home` looks down it and may click through;
3. without a click yet, the home page's "New in the shop" list, the same for every visitor: the
   same click model (attraction, place in the list) decides whether they open one of its products;
4. on a product page (which sends the `product_view` engagement signal), maybe add it to the
   cart (`cart_rate`, through the cart view: `add_to_cart`), and maybe check out (`buy_rate`,
   through the real checkout: `purchase`, which also takes stock and writes an order).

So the control arm's engagement is what the shop gets without the widget, and the widget arms'
is that plus what the widget adds.
"""

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.contrib.auth import SESSION_KEY, get_user_model
from django.db.models import F
from django.test import Client

from demo_shop.catalog.models import Product
from demo_shop.storefront.shopper_tastes import Tastes
from demo_shop.storefront.shoppers import ClickModel, Visit, visit_home
from recommendations.models import EngagementEvent
from recommendations.tracking.engagement import arm_of_user

CONTROL = "control"
SHELF_SIZE = 12  # the home page's "New in the shop" list (storefront.views.home)


def shelf() -> list[tuple[int, int, str]]:
    """The home page's non-personalised list, as (product pk, category pk, URL), in its order."""
    products = Product.objects.available().order_by("-created_at")[:SHELF_SIZE]
    return [(p.pk, p.category_id, p.get_absolute_url()) for p in products]


@dataclass
class ArmAwareVisit:
    """A visit function for `shoppers.simulate` that knows the arms; counts what it did."""

    model: ClickModel
    cart_rate: float = 0.3
    buy_rate: float = 0.0
    shelf_items: list[tuple[int, int, str]] = field(default_factory=shelf)
    started: list[datetime] = field(default_factory=list)  # each visit's start, in order
    arms: list[str] = field(default_factory=list)  # each visit's arm, in order
    shelf_clicks: int = 0
    carts: int = 0
    purchases: int = 0

    def __call__(
        self,
        client: Client,
        user_id: int,
        tastes: Tastes,
        model: ClickModel,
        rng: random.Random,
    ) -> Visit:
        """One visit of the client's customer, in their arm."""
        self.started.append(datetime.fromtimestamp(time.time(), tz=UTC))
        arm = self.arm_of(client)
        self.arms.append(arm)
        if arm == CONTROL:
            page = client.get("/")
            if page.status_code != 200:
                raise RuntimeError(f"the home page answered {page.status_code}")
            visit = Visit(request_id=None, source=None)
        else:
            visit = visit_home(client, user_id, tastes, model, rng)
        product_pk = int(visit.clicked_item) if visit.landed_status == 200 else None
        if visit.clicked_item is None:
            product_pk = self.browse_shelf(client, user_id, tastes, model, rng)
        if product_pk is not None:
            self.maybe_buy(client, product_pk, rng)
        return visit

    @staticmethod
    def arm_of(client: Client) -> str:
        """The arm of the customer whose session the client carries."""
        user = get_user_model()(pk=int(client.session[SESSION_KEY]))
        return arm_of_user(user)

    def browse_shelf(
        self, client: Client, user_id: int, tastes: Tastes, model: ClickModel, rng: random.Random
    ) -> int | None:
        """Look down the shelf; open the first product the click model picks. Its pk, or None."""
        chances = model.probabilities(tastes, user_id, [pk for pk, _, _ in self.shelf_items])
        for (pk, _, url), chance in zip(self.shelf_items, chances, strict=True):
            if rng.random() < chance:
                self.shelf_clicks += 1
                return pk if client.get(url).status_code == 200 else None
        return None

    def maybe_buy(self, client: Client, product_pk: int, rng: random.Random) -> None:
        """On a product page: maybe add it to the cart, and then maybe check out."""
        if rng.random() >= self.cart_rate:
            return
        if client.post(f"/cart/add/{product_pk}/").status_code not in (200, 302):
            return
        self.carts += 1
        if self.buy_rate and rng.random() < self.buy_rate:
            if client.post("/checkout/").status_code in (200, 302):
                self.purchases += 1
        else:
            # The next visit starts with an empty cart, as a new day's visit would.
            client.post(f"/cart/remove/{product_pk}/")


def backdate_engagement(started: list[datetime], days: int) -> None:
    """Move the run's engagement events back as `storefront...simulate_shoppers.backdate` moves
    its impressions: the visit at index i by days - 1 - i * days // len(started) days."""
    total = len(started)
    first_of: dict[int, int] = {}
    for index in range(total):
        first_of.setdefault(days - 1 - index * days // total, index)
    offsets = sorted(first_of, reverse=True)  # the oldest first, as the visits ran
    for number, offset in enumerate(offsets):
        if not offset:
            continue
        since = started[first_of[offset]]
        rows = EngagementEvent.objects.filter(created_at__gte=since)
        if number + 1 < len(offsets):
            rows = rows.filter(created_at__lt=started[first_of[offsets[number + 1]]])
        rows.update(created_at=F("created_at") - timedelta(days=offset))
