"""What may be shown is one rule (`CatalogAdapter.hidden_items`), applied by the service when an
answer is read (`serving/visibility.py`): a time-limited rule ("not what they viewed in the last
hour") works on cached answers, and every candidate passes it, the model's and each fallback
ranker's. The fallback's strategies are a list of rankers tried in order (FALLBACK_RANKERS)."""

import time
import types

import pytest
from django.conf import settings
from django.test import override_settings

from recommendations import service
from recommendations.checks import check_settings
from recommendations.fallback.rankers import Ranker
from recommendations.prefetch import entries
from tests.app.shop.catalog import ShopCatalog
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

LIMIT = 4
HOUR = 3600.0


class ViewsCatalog(ShopCatalog):
    """The demo's adapter plus "not what they viewed in the last hour" (the views are set by the
    test: the demo shop records none)."""

    viewed_at: dict[str, float] = {}  # set per test

    def hidden_items(self, user_id):
        return {
            **super().hidden_items(user_id),
            **{item: at + HOUR for item, at in self.viewed_at.items()},
        }


class OddFirst(Ranker):
    """A second strategy for the tests: odd product ids, highest first."""

    def rank(self, user_id, limit, exclude):
        return [str(pk) for pk in range(59, 0, -2) if str(pk) not in exclude][:limit]


def app(**overrides) -> override_settings:
    return override_settings(
        RECOMMENDATIONS={
            **settings.RECOMMENDATIONS,
            "CATALOG": f"{__name__}.ViewsCatalog",
            **overrides,
        }
    )


@pytest.fixture
def user():
    _, users = make_shop()
    ViewsCatalog.viewed_at = {}
    yield users[0]
    ViewsCatalog.viewed_at = {}


def shown(user) -> list[str]:
    return [item.item_id for item in service.recommend(user, LIMIT)]


def at(moment: float):
    """The service's clock at `moment` (seconds since the epoch); monotonic time runs as usual."""
    return types.SimpleNamespace(time=lambda: moment, monotonic=time.monotonic)


def test_an_item_viewed_in_the_last_hour_is_hidden_from_a_cached_answer_until_the_hour_ends(
    user, monkeypatch
):
    now = time.time()
    with app():
        ViewsCatalog.viewed_at = {"2": now - 600}  # ten minutes ago
        entries.write_entry(
            user.pk, ["1", "2", "3", "4", "5"], "v1", hidden=ViewsCatalog().hidden_items(user.pk)
        )
        assert shown(user) == ["1", "3", "4", "5"]
        # The same cached answer, read once the hour is over: nothing was written in between.
        monkeypatch.setattr(service, "time", at(now + 3001))
        assert shown(user) == ["1", "2", "3", "4"]


def test_what_the_model_was_told_to_exclude_is_only_what_is_hidden_for_good(user):
    from recommendations.serving.exclusions import exclude_for

    hidden = {"7": None, "8": time.time() + HOUR}
    assert exclude_for(ViewsCatalog(), user.pk, hidden) == ("7",)


def test_fallback_rankers_are_tried_in_order_and_their_items_pass_the_same_rule(user):
    ranking = "recommendations.fallback.rankers.NewestProducts"
    # The holdout: the fallback alone, with no cache or endpoint work.
    with app(FALLBACK_RANKERS=[f"{__name__}.OddFirst", ranking], HOLDOUT_SHARE=1.0):
        ViewsCatalog.viewed_at = {"59": time.time() - 60}
        answer = service.recommend(user, LIMIT)
    assert answer.source == "fallback"
    assert [item.item_id for item in answer] == ["57", "55", "53", "51"]


def test_the_last_ranker_fills_what_the_first_cannot(user):
    class_path = f"{__name__}.OddFirst"
    rankers = [class_path, "recommendations.fallback.rankers.NewestProducts"]
    with app(FALLBACK_RANKERS=rankers, HOLDOUT_SHARE=1.0):
        ViewsCatalog.viewed_at = {str(pk): time.time() for pk in range(1, 60, 2)}  # every odd one
        answer = service.recommend(user, LIMIT)
    assert [item.item_id for item in answer] == ["60", "58", "56", "54"]


def test_padding_a_cached_answer_reads_the_whole_rule(user):
    with app(FALLBACK_RANKERS=[f"{__name__}.OddFirst"]):
        entries.write_entry(user.pk, ["2", "4"], "v1", hidden={})
        ViewsCatalog.viewed_at = {"59": time.time()}  # not in the entry's answer
        answer = service.recommend(user, LIMIT)
    assert [item.item_id for item in answer] == ["2", "4", "57", "55"]
    assert answer.source == "mixed"


def test_a_ranker_that_is_not_one_is_a_system_check_error():
    with app(FALLBACK_RANKERS=["recommendations.backends.codecs.JSONCodec"]):
        assert [m.id for m in check_settings()] == ["recommendations.E027"]
    with app(FALLBACK_RANKERS=[f"{__name__}.OddFirst"]):
        assert check_settings() == []
