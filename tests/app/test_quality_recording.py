"""What an impression records for the quality figures: whether the model knew the viewer (its
prior answered: cold start), and how many of the model's items the availability filter looked
at and dropped (stale items), through the real service and a prefetched answer."""

import pytest

from recommendations.prefetch import entries
from recommendations.service import recommend
from recommendations.tracking.impressions import impression_event
from tests.app.shop.models import Product
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

LIMIT = 8


@pytest.fixture
def shop(rf):
    _, users = make_shop()
    request = rf.get("/")
    request.user = users[0]
    return request


def test_items_the_availability_filter_drops_are_counted_against_the_answer(shop):
    ranking = [str(pk) for pk in range(1, 17)]
    Product.objects.filter(pk__in=[2, 5, 7]).update(stock=0)
    entries.write_entry(shop.user.pk, ranking, "v1", variant="AllTraffic")

    answer = recommend(shop, LIMIT)

    # The first slice of ten lost three, so the second slice (the other six) was looked at too.
    assert [item.item_id for item in answer] == ["1", "3", "4", "6", "8", "9", "10", "11"]
    assert (answer.answered.checked, answer.answered.dropped) == (16, 3)
    event = impression_event(answer, "someone")
    assert (event["model_checked"], event["model_dropped"], event["prior"]) == (16, 3, False)
    assert (event["model_version"], event["variant"]) == ("v1", "AllTraffic")


def test_a_wholly_stale_answer_still_names_the_version_that_gave_it(shop):
    Product.objects.filter(pk__in=[1, 2, 3]).update(stock=0)
    entries.write_entry(shop.user.pk, ["1", "2", "3"], "v1", variant="AllTraffic")

    answer = recommend(shop, LIMIT)

    assert (answer.source, answer.fallback_reason, answer.model_version) == (
        "fallback",
        "unknown_items",
        None,
    )
    event = impression_event(answer, "someone")
    assert (event["model_version"], event["variant"]) == ("v1", "AllTraffic")
    assert (event["model_checked"], event["model_dropped"]) == (3, 3)


def test_an_answer_from_the_models_prior_is_recorded_as_cold_start(shop):
    entries.write_entry(shop.user.pk, [str(pk) for pk in range(1, 17)], "v1", prior=True)

    event = impression_event(recommend(shop, LIMIT), "someone")

    assert event["prior"] is True
    assert (event["model_checked"], event["model_dropped"]) == (10, 0)


def test_nothing_is_recorded_for_the_model_when_it_did_not_answer(shop, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "HOLDOUT_SHARE": 1.0}

    answer = recommend(shop, LIMIT)
    event = impression_event(answer, "someone")

    assert answer.answered is None
    assert (event["model_version"], event["prior"], event["model_checked"]) == ("", False, 0)
