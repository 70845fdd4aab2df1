"""manage.py simulate_shoppers: seeded customers through the real stack, clicks by the purchase
generator's chance that an item is their next purchase (or, with --click-model topics, by their
latent tastes), events flushed."""

import re
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from demo_shop.catalog.models import Product
from demo_shop.storefront.demo_loader import seeded_customers
from demo_shop.storefront.models import DemoSeed
from demo_shop.storefront.shopper_tastes import CategoryShopperTastes, shopper_tastes
from demo_shop.storefront.shoppers import ClickModel
from recommendations.models import Click, EngagementEvent, Impression
from recommendations.reporting.engagement import build_engagement_report
from recommendations.tracking import events
from recommendations.tracking.engagement import arm_of_user
from recommendations.tracking.pseudonyms import pseudonym

pytestmark = pytest.mark.django_db

# No endpoint is reachable (a closed port): every arm is served by the fallback ranking, which is
# all these tests need; the model's side is measured by the README's run against model/serve.py.
MEASURED = {
    "ENDPOINT_NAME": "offline",
    "ENDPOINT_URL": "http://127.0.0.1:9",
    "CATALOG": "demo_shop.catalog.recommendations.DemoCatalog",
    "TRACKING": True,
    "HOLDOUT_SHARE": 0.5,
    "EVENT_FLUSH_INTERVAL": 60.0,
}


@pytest.fixture
def demo_shop():
    call_command(
        "seed_demo",
        products=60,
        categories=4,
        customers=30,
        lines=900,
        seed=5,
        topic_size=10,  # the default 25 would make three topics of this catalogue
        force=True,
        verbosity=0,
    )
    call_command("recommendations_refresh_fallback", verbosity=0)
    events.buffer().clear()
    with override_settings(RECOMMENDATIONS=MEASURED):
        yield


def run(*args: str) -> str:
    out = StringIO()
    call_command("simulate_shoppers", *args, stdout=out)
    return out.getvalue()


def test_every_visit_records_an_impression_and_clicks_reach_the_database(demo_shop):
    output = run("--visits", "60", "--seed", "3")
    assert Impression.objects.count() == 60
    assert set(Impression.objects.values_list("arm", flat=True)) == {"model", "holdout"}
    clicks = Click.objects.count()
    assert 0 < clicks <= 60
    # Every click belongs to an impression of this run.
    request_ids = set(Impression.objects.values_list("request_id", flat=True))
    assert set(Click.objects.values_list("impression_request_id", flat=True)) <= request_ids
    assert "60 visits by 30 customers" in output
    assert "model vs holdout" in output


def test_the_same_seed_gives_the_same_visits_and_clicks(demo_shop):
    run("--visits", "30", "--seed", "9")
    first = sorted(Click.objects.values_list("item_id", "position"))
    Click.objects.all().delete()
    Impression.objects.all().delete()
    run("--visits", "30", "--seed", "9")
    assert first
    assert sorted(Click.objects.values_list("item_id", "position")) == first


def test_clicks_go_to_what_the_generator_would_have_the_shopper_buy_next(demo_shop):
    run("--visits", "80", "--seed", "4")
    customers = list(seeded_customers())
    tastes = shopper_tastes(customers)
    by_pseudonym = {pseudonym(c.pk): c.pk for c in customers}
    clicks = list(Click.objects.all())

    assert clicks
    for click in clicks:
        # Every click is on an item the generator gives a chance of being the next purchase.
        user_id = by_pseudonym[click.pseudonym]
        assert tastes.next_purchase(user_id, [int(click.item_id)]) > [0.0]


def test_a_follow_up_of_the_last_order_is_likelier_to_be_clicked_than_an_unrelated_product(
    demo_shop,
):
    customers = list(seeded_customers())
    tastes = shopper_tastes(customers)
    data = tastes.data
    pk_of = {index: pk for pk, index in tastes.product_index.items()}
    model = ClickModel()
    compared = 0
    for customer in customers:
        index = tastes.users[customer.pk]
        last = tastes.last_order_of[index]
        bought = data.line_product[data.order_first_line[last] : data.order_first_line[last + 1]]
        follow_ups = [f for f in data.tastes.follow_up[bought].tolist() if f >= 0]
        unrelated = [
            p
            for p in range(len(data.product_slugs))
            if data.tastes.fit(index, np.array([p]))[0] == 0 and not data.tastes.consumable[p]
        ]
        if not follow_ups or not unrelated:
            continue
        follow_up, other = pk_of[follow_ups[0]], pk_of[unrelated[0]]
        # Either at the top of the list: the follow-up's chance is the higher.
        assert (
            model.probabilities(tastes, customer.pk, [follow_up])[0]
            > (model.probabilities(tastes, customer.pk, [other])[0])
        )
        compared += 1
    assert compared >= 3


def test_with_the_topics_model_clicks_follow_the_latent_tastes(demo_shop):
    run(
        "--visits",
        "80",
        "--seed",
        "4",
        "--click-model",
        "topics",
        "--taste-rate",
        "0.5",
        "--base-rate",
        "0.0",
    )
    customers = list(seeded_customers())
    tastes = shopper_tastes(customers)
    by_pseudonym = {pseudonym(c.pk): c.pk for c in customers}
    clicks = list(Click.objects.all())

    assert tastes.kind == "latent"
    assert clicks
    for click in clicks:
        # With no base rate, only an item that suits the shopper's tastes can be clicked.
        assert tastes.fit(by_pseudonym[click.pseudonym], [int(click.item_id)]) > [0.0]


def test_a_shopper_likes_products_of_several_categories_but_not_everything(demo_shop):
    customers = list(seeded_customers())
    tastes = shopper_tastes(customers)
    products = list(Product.objects.values_list("pk", "category_id"))
    liked_categories, liked_shares = [], []
    for customer in customers:
        fits = tastes.fit(customer.pk, [pk for pk, _ in products])
        liked = [category for (_, category), fit in zip(products, fits, strict=True) if fit > 0]
        liked_categories.append(len(set(liked)))
        liked_shares.append(len(liked) / len(products))

    # Topics span categories, so most shoppers like things in more than one category ...
    assert sum(count >= 2 for count in liked_categories) > 0.8 * len(customers)
    # ... yet a shopper likes a minority of the catalogue: a ranking has to find which.
    assert sum(liked_shares) / len(liked_shares) < 0.5


def test_without_a_seed_record_shoppers_fall_back_to_their_most_bought_categories(
    demo_shop, caplog
):
    DemoSeed.objects.all().delete()
    customers = list(seeded_customers())

    tastes = shopper_tastes(customers)

    assert isinstance(tastes, CategoryShopperTastes)
    assert "most bought categories" in caplog.text
    run("--visits", "20", "--seed", "4")  # the next-purchase model falls back to the categories
    assert Impression.objects.count() == 20


def test_spreading_over_days_backdates_the_runs_events(demo_shop):
    run("--visits", "30", "--seed", "2", "--days", "3")
    days = {d.date() for d in Impression.objects.values_list("created_at", flat=True)}
    assert len(days) == 3


def test_it_refuses_to_run_without_tracking(demo_shop):
    with (
        override_settings(RECOMMENDATIONS={**MEASURED, "TRACKING": False}),
        pytest.raises(CommandError, match="TRACKING"),
    ):
        run("--visits", "5")


def control_visitors() -> set[str]:
    """Pseudonyms of the customers in the control arm."""
    return set(EngagementEvent.objects.filter(action="visit").values_list("pseudonym", flat=True))


def test_control_visitors_see_no_widget_and_both_lifts_are_printed(demo_shop):
    # The arms come from the customers' primary keys, which depend on what ran before in the
    # database: with the control slice on top (0.6-1) and the holdout at the bottom (0-0.3), the
    # model arm's 30 % leaves none of 30 customers in it with a chance of 2 in 100,000 (with a
    # holdout of 0.5 it had 10 %, and none in it with a chance of 4 in 100).
    measured = {**MEASURED, "HOLDOUT_SHARE": 0.3}
    with override_settings(RECOMMENDATIONS=measured):
        output = run(
            "--visits",
            "120",
            "--seed",
            "6",
            "--click-model",
            "topics",
            "--taste-rate",
            "0.4",
            "--base-rate",
            "0.1",
            "--control-share",
            "0.4",
            "--cart-rate",
            "0.5",
        )
    with override_settings(RECOMMENDATIONS={**measured, "CONTROL_SHARE": 0.4}):
        arms_of = {arm_of_user(customer) for customer in seeded_customers()}
    assert arms_of == {"control", "model", "holdout"}
    control = control_visitors()
    assert control
    # No control-arm customer was shown a widget; each of their visits was counted.
    assert not Impression.objects.filter(pseudonym__in=control).exists()
    assert not Impression.objects.filter(arm="control").exists()
    assert set(EngagementEvent.objects.filter(action="visit").values_list("arm", flat=True)) == {
        "control"
    }
    # Control visitors browsed on their own: the shop's product pages sent their views.
    assert EngagementEvent.objects.filter(pseudonym__in=control, action="product_view").exists()
    assert EngagementEvent.objects.filter(action="add_to_cart").exists()
    assert "model vs holdout" in output
    assert "widget vs no widget, visits with product_view" in output
    assert "widget vs no widget, visits with add_to_cart" in output
    assert re.search(r"visits with product_view: [\d.]+% vs [\d.]+%; lift [+-][\d.]+%", output)
    report = build_engagement_report(days=1)
    assert report.control.visits and report.widget.visits
    # The widget adds clicks on top of the same browsing: a click on it leads to the product's
    # page, so every visit with a click has a product view. (Which arm's rate comes out higher
    # on 120 visits is chance: the widget's items, model or fallback, steer the simulation.)
    clicked = set(Click.objects.values_list("pseudonym", flat=True))
    assert clicked and not clicked & control
    viewed = set(
        EngagementEvent.objects.filter(action="product_view").values_list("pseudonym", flat=True)
    )
    assert clicked <= viewed


def test_spreading_over_days_backdates_the_engagement_events_too(demo_shop):
    run("--visits", "40", "--seed", "2", "--days", "4", "--control-share", "0.5")
    days = {d.date() for d in EngagementEvent.objects.values_list("created_at", flat=True)}
    assert len(days) == 4


def test_a_position_decay_outside_0_to_1_is_refused(demo_shop):
    with pytest.raises(CommandError, match="position-decay"):
        run("--visits", "5", "--position-decay", "1.5")


def test_a_control_share_that_leaves_no_room_is_refused(demo_shop):
    with pytest.raises(CommandError, match="more than 1"):
        run("--visits", "5", "--control-share", "0.6")  # the holdout takes 0.5
