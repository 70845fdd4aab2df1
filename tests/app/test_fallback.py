"""The fallback ranking's behaviour on small hand-made histories (the test shop's models and adapter)."""

import pytest

from recommendations.fallback import store
from recommendations.models import FallbackRanking
from tests.support.fallback_shop import HandMadeShop

pytestmark = [pytest.mark.usefixtures("empty_cache"), pytest.mark.django_db]


@pytest.fixture
def shop() -> HandMadeShop:
    return HandMadeShop()


def neighbours_of(shop: HandMadeShop, name: str) -> list[str]:
    row = FallbackRanking.objects.get(
        version__is_current=True, kind=FallbackRanking.Kind.NEIGHBOURS, key=shop.id(name)
    )
    return row.item_ids


def test_popularity_follows_weighted_time_decayed_counts(shop, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "FALLBACK_HALF_LIFE_DAYS": 30.0}
    # Raw counts would rank old-hit first (4 units); decayed with a 30-day half-life:
    # old-hit 4 * 0.5**3 = 0.5, steady 3 * 0.5**1 = 1.5, fresh 1 * 0.5**0 = 1.0, dusty 4 * 0.5**4 = 0.25.
    shop.buy("ann", "old-hit", days_ago=90, quantity=4)
    shop.buy("bob", "steady", days_ago=30, quantity=2)
    shop.buy("cat", "steady", days_ago=30, quantity=1)
    shop.buy("dan", "fresh", days_ago=0)
    shop.buy("eve", "dusty", days_ago=120, quantity=4)

    store.refresh(now=shop.now)

    assert store.popular_item_ids(10) == shop.ids("steady", "fresh", "old-hit", "dusty")
    row = FallbackRanking.objects.get(version__is_current=True, kind=FallbackRanking.Kind.POPULAR)
    assert row.scores == pytest.approx([1.5, 1.0, 0.5, 0.25], rel=1e-5)
    assert store.popular_item_ids(2) == shop.ids("steady", "fresh")


def test_a_longer_half_life_lets_volume_win_over_recency(shop, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "FALLBACK_HALF_LIFE_DAYS": 3650.0}
    shop.buy("ann", "old-hit", days_ago=90, quantity=4)
    shop.buy("dan", "fresh", days_ago=0)

    store.refresh(now=shop.now)

    assert store.popular_item_ids(10) == shop.ids("old-hit", "fresh")


def test_popularity_per_category(shop):
    for name, category in [("a1", "A"), ("a2", "A"), ("b1", "B")]:
        shop.product(name, category)
    shop.buy("ann", "a1", "b1")
    shop.buy("bob", "a2", "b1")
    shop.buy("cat", "a2")

    store.refresh(now=shop.now)

    category_a = shop.products["a1"].category_id
    assert store.popular_item_ids(10, category=category_a) == shop.ids("a2", "a1")
    assert store.popular_item_ids(10, category=shop.products["b1"].category_id) == shop.ids("b1")
    assert store.popular_item_ids(10, category=999_999) == []


def test_neighbours_of_an_item_are_the_items_bought_with_it(shop):
    shop.buy("ann", "tent", "stove", "mat")
    shop.buy("bob", "tent", "stove")
    shop.buy("cat", "tent", days_ago=5)
    shop.buy("cat", "mat", days_ago=2)
    shop.buy("dan", "novel", "bookmark")
    shop.buy("eve", "novel", "bookmark", "lamp")

    store.refresh(now=shop.now)

    # stove and mat each share 2 of tent's 3 buyers (cosine 2/sqrt(3*2) both); nothing that was
    # never bought with a tent appears.
    assert set(neighbours_of(shop, "tent")) == set(shop.ids("stove", "mat"))
    assert neighbours_of(shop, "stove")[0] == shop.id("tent")
    assert set(neighbours_of(shop, "novel")) == set(shop.ids("bookmark", "lamp"))
    assert neighbours_of(shop, "novel")[0] == shop.id("bookmark")


def test_cosine_damps_best_sellers(shop):
    # Everybody buys bread; only the two tent buyers also buy a stove.
    for user in ["u1", "u2", "u3", "u4", "u5", "u6"]:
        shop.buy(user, "bread")
    shop.buy("u1", "tent", "stove")
    shop.buy("u2", "tent", "stove")

    store.refresh(now=shop.now)

    # Raw co-occurrence ties bread and stove (2 common buyers each); cosine prefers the stove.
    assert neighbours_of(shop, "tent") == shop.ids("stove", "bread")


@pytest.fixture
def two_taste_shop(shop) -> HandMadeShop:
    """Category A items are bought together, so are B's; B sells more overall."""
    for name in ["a1", "a2", "a3", "a4"]:
        shop.product(name, "A")
    for name in ["b1", "b2", "b3", "b4"]:
        shop.product(name, "B")
    for n in range(4):
        shop.buy(f"a-fan{n}", "a1", "a2", "a3", days_ago=10 + n)
        shop.buy(f"a-fan{n}", "a4", days_ago=5)
    for n in range(10):
        shop.buy(f"b-fan{n}", "b1", "b2", "b3", "b4", days_ago=3 + n)
    shop.buy("newcomer", "a1", days_ago=1)
    return shop


def test_a_user_who_bought_from_a_category_gets_its_items_first(two_taste_shop):
    shop = two_taste_shop
    store.refresh(now=shop.now)

    ranked = store.ranked_item_ids(shop.user("newcomer").pk, limit=6)

    assert set(ranked[:3]) == set(shop.ids("a2", "a3", "a4"))
    assert set(ranked[3:6]) <= set(shop.ids("b1", "b2", "b3", "b4"))
    # Plain popularity puts B first: the personalised list really differs from it.
    assert set(store.popular_item_ids(4)) == set(shop.ids("b1", "b2", "b3", "b4"))


def test_bought_items_are_excluded(two_taste_shop):
    shop = two_taste_shop
    store.refresh(now=shop.now)

    fan = shop.user("a-fan0").pk
    ranked = store.ranked_item_ids(fan, limit=10)

    assert not set(ranked) & set(shop.ids("a1", "a2", "a3", "a4"))
    assert set(ranked) == set(shop.ids("b1", "b2", "b3", "b4"))


def test_exclude_is_left_out_and_the_limit_still_filled(two_taste_shop):
    shop = two_taste_shop
    store.refresh(now=shop.now)
    user = shop.user("newcomer").pk
    full = store.ranked_item_ids(user, limit=5)

    ranked = store.ranked_item_ids(user, limit=4, exclude=full[:2])

    assert ranked == [*full[2:5], store.ranked_item_ids(user, limit=6)[5]]
    assert (
        store.ranked_item_ids(None, limit=3, exclude=[shop.id("b1")])
        == [i for i in store.popular_item_ids(4) if i != shop.id("b1")][:3]
    )


def test_anonymous_and_new_users_get_popularity(two_taste_shop):
    shop = two_taste_shop
    store.refresh(now=shop.now)
    stranger = shop.user("stranger").pk  # an account with no orders

    popular = store.popular_item_ids(5)
    assert len(popular) == 5
    assert store.ranked_item_ids(None, limit=5) == popular
    assert store.ranked_item_ids(stranger, limit=5) == popular


def test_empty_shop_gives_empty_lists_without_errors(shop):
    user = shop.user("ann").pk
    assert store.ranked_item_ids(user, limit=5) == []  # before any refresh
    assert store.popular_item_ids(5) == []

    version = store.refresh(now=shop.now)

    assert version.is_current and version.interactions == 0 and version.items == 0
    assert store.ranked_item_ids(None, limit=5) == []
    assert store.ranked_item_ids(user, limit=5) == []
    assert store.popular_item_ids(5, category=1) == []


def test_a_new_version_replaces_a_users_cached_list(shop):
    shop.buy("ann", "tent", "stove")
    shop.buy("bob", "tent")
    store.refresh(now=shop.now)
    bob = shop.user("bob").pk
    assert store.ranked_item_ids(bob, limit=5) == shop.ids("stove")

    shop.buy("cat", "tent", "lantern")
    shop.buy("dan", "tent", "lantern")
    store.refresh(now=shop.now)

    assert store.ranked_item_ids(bob, limit=5) == shop.ids("lantern", "stove")


def test_forget_user_drops_what_they_just_bought(shop):
    shop.buy("ann", "tent", "stove", "mat")
    shop.buy("bob", "tent")
    store.refresh(now=shop.now)
    bob = shop.user("bob").pk
    assert shop.id("stove") in store.ranked_item_ids(bob, limit=5)

    shop.buy("bob", "stove", days_ago=0)
    store.forget_user(bob)

    assert shop.id("stove") not in store.ranked_item_ids(bob, limit=5)
