"""Experiment arms: a deterministic holdout that never reaches the model, and a second production
variant that the real endpoint sees as TargetVariant, with prefetched answers kept per variant."""

import pytest
from django.test import override_settings
from django.urls import reverse

from recommendations import service
from recommendations.backends.base import get_backend, reset_clients
from recommendations.prefetch import entries
from recommendations.tasks import prefetch_users
from recommendations.tracking import arms
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.shop_data import make_shop

CATALOG = "tests.app.shop.catalog.ShopCatalog"
CHALLENGER = "challenger"


def test_a_users_place_is_deterministic_and_in_the_unit_interval():
    keys = [pseudonym(n) for n in range(50)]
    places = [arms.place(key) for key in keys]
    assert places == [arms.place(key) for key in keys]
    assert all(0 <= value < 1 for value in places)
    assert len(set(places)) == 50


@pytest.mark.parametrize(("holdout", "second"), [(0.1, 0.0), (0.2, 0.3), (0.5, 0.25)])
def test_arms_get_about_their_configured_share_of_many_users(holdout, second):
    users = 20_000
    with override_settings(
        RECOMMENDATIONS={
            "HOLDOUT_SHARE": holdout,
            "SECOND_VARIANT": CHALLENGER,
            "SECOND_VARIANT_SHARE": second,
        }
    ):
        names = [arms.arm_for(f"pseudonym-{n}").name for n in range(users)]
    # 5 standard deviations of a binomial share at 20,000 users is under 0.018.
    assert abs(names.count(arms.HOLDOUT) / users - holdout) < 0.018
    assert abs(names.count(arms.SECOND_VARIANT) / users - second) < 0.018


def test_raising_the_holdout_share_only_moves_users_into_the_holdout():
    keys = [f"pseudonym-{n}" for n in range(2000)]
    with override_settings(RECOMMENDATIONS={"HOLDOUT_SHARE": 0.1}):
        small = {key for key in keys if arms.arm_for(key).name == arms.HOLDOUT}
    with override_settings(RECOMMENDATIONS={"HOLDOUT_SHARE": 0.2}):
        large = {key for key in keys if arms.arm_for(key).name == arms.HOLDOUT}
    assert small < large


def test_no_share_means_everyone_sees_the_model_and_anonymous_has_its_own_arm():
    assert {arms.arm_for(f"p{n}") for n in range(500)} == {arms.MODEL_ARM}
    assert arms.arm_for(None) == arms.ANONYMOUS_ARM
    # A second variant without a name sends nobody anywhere.
    with override_settings(RECOMMENDATIONS={"SECOND_VARIANT_SHARE": 1.0}):
        assert arms.arm_for("p1") == arms.MODEL_ARM


def users_in(users, arm_name: str, settings: dict) -> list:
    with override_settings(RECOMMENDATIONS=settings):
        return [u for u in users if arms.arm_for(pseudonym(u.pk)).name == arm_name]


@pytest.fixture
def endpoint(shop_endpoint):
    shop_endpoint.set_fault("none")
    shop_endpoint.reset_stats()
    reset_clients()
    yield shop_endpoint
    reset_clients()


def endpoint_settings(server, **extra) -> dict:
    return {**server.recommendations_settings(), "CATALOG": CATALOG, "BUDGET_MS": 300, **extra}


@pytest.mark.django_db
@pytest.mark.integration
def test_holdout_users_get_the_fallback_with_no_endpoint_call_even_when_prefetched(endpoint):
    _, users = make_shop()
    settings = endpoint_settings(endpoint, HOLDOUT_SHARE=0.5)
    held_out = users_in(users, arms.HOLDOUT, settings)
    treated = users_in(users, arms.MODEL, settings)
    assert held_out and treated
    with override_settings(RECOMMENDATIONS=settings):
        get_backend().warm_up()
        user = held_out[0]
        entries.write_entry(user.pk, [str(pk) for pk in range(1, 30)], "v-cached")
        answer = service.recommend(user)
        assert (answer.arm, answer.source, answer.fallback_reason) == (
            "holdout",
            "fallback",
            "holdout",
        )
        assert answer.model_version is None
        assert len(answer) == 8
        assert endpoint.invocations() == 0

        other = service.recommend(treated[0])
        assert (other.arm, other.source) == ("model", "model")
        assert endpoint.invocations() == 1


@pytest.mark.django_db
@pytest.mark.integration
def test_the_second_variants_users_reach_it_as_target_variant(endpoint, client):
    _, users = make_shop()
    settings = endpoint_settings(
        endpoint, HOLDOUT_SHARE=0.0, SECOND_VARIANT=CHALLENGER, SECOND_VARIANT_SHARE=0.5
    )
    challengers = users_in(users, arms.SECOND_VARIANT, settings)
    regulars = users_in(users, arms.MODEL, settings)
    with override_settings(RECOMMENDATIONS=settings):
        get_backend().warm_up()
        client.force_login(challengers[0])
        response = client.get(reverse("home"))
        assert response.status_code == 200
        assert endpoint.stats()["by_variant"] == {CHALLENGER: 1}

        answer = service.recommend(challengers[0])  # now from the cache, per variant
        assert (answer.arm, answer.variant, answer.source) == ("variant", CHALLENGER, "model")
        assert entries.read_entry(challengers[0].pk, CHALLENGER) is not None
        assert entries.read_entry(challengers[0].pk) is None

        regular = service.recommend(regulars[0])
        assert regular.arm == "model"
        assert regular.variant != CHALLENGER
        stats = endpoint.stats()["by_variant"]
        assert stats[CHALLENGER] == 1
        assert sum(stats.values()) == 2


@pytest.mark.django_db
@pytest.mark.integration
def test_a_cached_answer_of_one_variant_is_never_served_to_the_other(endpoint):
    _, users = make_shop()
    user = users[0]
    entries.write_entry(user.pk, [str(pk) for pk in range(1, 30)], "v-default", "AllTraffic")
    share = {"SECOND_VARIANT": CHALLENGER, "SECOND_VARIANT_SHARE": 1.0}
    with override_settings(RECOMMENDATIONS=endpoint_settings(endpoint, **share)):
        get_backend().warm_up()
        answer = service.recommend(user)
    assert answer.model_version != "v-default"
    assert endpoint.stats()["by_variant"] == {CHALLENGER: 1}


@pytest.mark.django_db
@pytest.mark.integration
def test_prefetch_skips_the_holdout_and_asks_each_variant_for_its_own_users(endpoint):
    _, users = make_shop()
    settings = endpoint_settings(
        endpoint,
        HOLDOUT_SHARE=0.3,
        SECOND_VARIANT=CHALLENGER,
        SECOND_VARIANT_SHARE=0.3,
        BATCH_SIZE=100,
    )
    ids = [u.pk for u in users]
    held_out = users_in(users, arms.HOLDOUT, settings)
    challengers = users_in(users, arms.SECOND_VARIANT, settings)
    with override_settings(RECOMMENDATIONS=settings):
        prefetch_users.apply(args=[ids])
        stats = endpoint.stats()
        assert stats["invocations"] == 2  # one batch per variant
        assert stats["instances"] == len(ids) - len(held_out)
        assert stats["by_variant"][CHALLENGER] == 1
        assert all(entries.read_entry(u.pk) is None for u in held_out)
        assert all(entries.read_entry(u.pk, CHALLENGER) for u in challengers)
        assert all(entries.read_entry(u.pk) is None for u in challengers)

    # A purchase drops both of a user's entries.
    with override_settings(RECOMMENDATIONS=settings):
        entries.delete_entry(challengers[0].pk)
        assert entries.read_entry(challengers[0].pk, CHALLENGER) is None
