"""Every visit of every arm counts in the engagement comparison, once: a widget-arm page whose
widget rendered empty too, and no visit twice (two widgets on a page, several pages a day), from
the raw rows and from the rollups alike."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from recommendations.models import DailyEngagement, EngagementEvent, Impression, RolledUpDay
from recommendations.reporting import rollups
from recommendations.reporting.engagement import build_engagement_report
from recommendations.tracking import arms, events
from recommendations.tracking.pseudonyms import pseudonym
from tests.app.shop.models import Product
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

MEASURED = {
    "TRACKING": True,
    "CONTROL_SHARE": 0.5,
    "EVENT_FLUSH_INTERVAL": 60.0,
}


@pytest.fixture
def shop(use_shop_endpoint):
    """The shop's users by arm, with tracking on and half of them in the control arm."""
    events.buffer().clear()
    _, users = make_shop()
    use_shop_endpoint(**MEASURED)
    by_arm: dict[str, list] = {}
    for user in users:
        by_arm.setdefault(arms.arm_for(pseudonym(user.pk)).name, []).append(user)
    yield by_arm
    events.buffer().clear()


def visit(client, user, *pages: str) -> None:
    client.force_login(user)
    for page in pages:
        assert client.get(reverse(page)).status_code == 200
    client.logout()


def reports_of_yesterday() -> tuple:
    """The buffered events, moved to yesterday, reported from the raw rows and from the rollups."""
    events.write_buffered()
    day = timedelta(days=1)
    Impression.objects.update(created_at=F("created_at") - day)
    EngagementEvent.objects.update(created_at=F("created_at") - day)
    today = timezone.localdate()
    raw = build_engagement_report(days=2, today=today)
    rollups.roll_up()
    assert RolledUpDay.objects.filter(day=today - day, engagement=True).exists()
    assert DailyEngagement.objects.exists()
    return raw, build_engagement_report(days=2, today=today)


def test_a_widget_arm_visit_whose_widget_rendered_empty_counts(client, shop):
    Product.objects.update(stock=0)  # nothing to show: every item is excluded
    visit(client, shop["model"][0], "home")
    visit(client, shop["control"][0], "home")

    raw, rolled_up = reports_of_yesterday()

    assert not Impression.objects.exists()  # no widget was shown, so no impression
    assert (raw.by_arm["model"].visits, raw.by_arm["control"].visits) == (1, 1)
    assert rolled_up == raw


def test_every_visit_of_every_arm_counts_once(client, shop):
    model, control = shop["model"], shop["control"]
    # Two widgets on one page (the fragment and the JSON API beside the home page's), twice a day.
    visit(client, model[0], "home", "recommendations:widget", "recommendations:api", "home")
    visit(client, control[0], "home", "recommendations:api", "home")
    Product.objects.update(stock=0)
    visit(client, model[0], "home")  # the same visitor's empty widget later that day
    visit(client, model[1], "home", "recommendations:api")  # only empty widgets
    visit(client, control[1], "home")

    raw, rolled_up = reports_of_yesterday()

    assert {arm: counts.visits for arm, counts in raw.by_arm.items()} == {"model": 2, "control": 2}
    assert raw.widget.visits == 2
    assert rolled_up == raw
