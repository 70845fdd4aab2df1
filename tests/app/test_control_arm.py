"""The control arm (CONTROL_SHARE): the top slice of the users' places, no widget at all, no cache
or endpoint work for it, and its visits still counted for the widget-against-no-widget lift."""

import pytest
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings
from django.urls import reverse

from recommendations import service
from recommendations.models import EngagementEvent, Impression
from recommendations.prefetch import entries
from recommendations.tasks import prefetch_users
from recommendations.tracking import arms, events
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.shop_data import make_shop

KEYS = [f"pseudonym-{n}" for n in range(4000)]


def arms_of(keys: list[str], **shares) -> dict[str, str]:
    with override_settings(RECOMMENDATIONS=shares):
        return {key: arms.arm_for(key).name for key in keys}


def test_the_control_arm_is_the_top_slice_of_the_users_places():
    assigned = arms_of(KEYS, HOLDOUT_SHARE=0.1, CONTROL_SHARE=0.25)
    for key, arm in assigned.items():
        where = arms.place(key)
        expected = "control" if where >= 0.75 else "holdout" if where < 0.1 else "model"
        assert arm == expected
    # The same every time (no storage, no randomness at page time).
    assert arms_of(KEYS, HOLDOUT_SHARE=0.1, CONTROL_SHARE=0.25) == assigned
    share = list(assigned.values()).count("control") / len(KEYS)
    assert abs(share - 0.25) < 0.035  # 5 standard deviations of a binomial share at 4,000


def test_raising_the_control_share_only_moves_model_users_at_its_edge_into_control():
    before = arms_of(KEYS, HOLDOUT_SHARE=0.1, SECOND_VARIANT="B", SECOND_VARIANT_SHARE=0.2)
    after = arms_of(
        KEYS, HOLDOUT_SHARE=0.1, SECOND_VARIANT="B", SECOND_VARIANT_SHARE=0.2, CONTROL_SHARE=0.3
    )
    moved = {key for key in KEYS if before[key] != after[key]}
    assert moved
    assert {before[key] for key in moved} == {"model"}
    assert {after[key] for key in moved} == {"control"}
    assert all(arms.place(key) >= 0.7 for key in moved)


def test_the_holdout_and_variant_shares_never_move_anyone_into_or_out_of_control():
    small = arms_of(KEYS, HOLDOUT_SHARE=0.1, CONTROL_SHARE=0.2)
    large = arms_of(
        KEYS, HOLDOUT_SHARE=0.4, SECOND_VARIANT="B", SECOND_VARIANT_SHARE=0.4, CONTROL_SHARE=0.2
    )
    assert {k for k, a in small.items() if a == "control"} == {
        k for k, a in large.items() if a == "control"
    }


def test_shares_that_add_up_to_exactly_one_leave_no_model_arm():
    assigned = arms_of(
        KEYS, HOLDOUT_SHARE=0.7, SECOND_VARIANT="B", SECOND_VARIANT_SHARE=0.2, CONTROL_SHARE=0.1
    )
    assert set(assigned.values()) == {"holdout", "variant", "control"}


class CountingLocMemCache(LocMemCache):
    """A real LocMemCache that counts its reads, to show what a control-arm page costs."""

    reads: list[str] = []

    def get(self, *args, **kwargs):
        self.reads.append("get")
        return super().get(*args, **kwargs)

    def get_many(self, *args, **kwargs):
        self.reads.append("get_many")
        return super().get_many(*args, **kwargs)


@pytest.fixture
def counting_cache():
    with override_settings(
        CACHES={"default": {"BACKEND": "tests.app.test_control_arm.CountingLocMemCache"}}
    ):
        CountingLocMemCache.reads.clear()
        yield CountingLocMemCache.reads


def split(users, settings: dict) -> tuple[list, list]:
    """The users in the control arm and those in the model arm under `settings`."""
    with override_settings(RECOMMENDATIONS=settings):
        control = [u for u in users if arms.arm_for(pseudonym(u.pk)).name == "control"]
        model = [u for u in users if arms.arm_for(pseudonym(u.pk)).name == "model"]
    return control, model


@pytest.mark.django_db
@pytest.mark.integration
def test_a_control_user_gets_no_widget_and_no_cache_or_endpoint_work(
    counting_cache, use_shop_endpoint
):
    # counting_cache first: its settings override must be entered before use_shop_endpoint's and
    # left after it, or leaving them out of order would keep the counting cache for later tests.
    _, users = make_shop()
    endpoint = use_shop_endpoint(CONTROL_SHARE=0.5, BUDGET_MS=300)
    control, model = split(users, settings.RECOMMENDATIONS)
    assert control and model
    user = control[0]
    entries.write_entry(user.pk, [str(pk) for pk in range(1, 30)], "v-cached")
    counting_cache.clear()

    answer = service.recommend(user)

    assert (answer.items, answer.arm, answer.source) == ([], "control", "none")
    assert answer.fallback_reason == "control"
    assert counting_cache == []
    assert endpoint.invocations() == 0

    other = service.recommend(model[0])
    assert (other.arm, len(other)) == ("model", 8)
    assert counting_cache  # the model arm's page reads its entry
    assert endpoint.invocations() == 1


@pytest.mark.django_db
@pytest.mark.integration
def test_control_pages_render_no_widget_and_count_the_visit(use_shop_endpoint, client):
    _, users = make_shop()
    endpoint = use_shop_endpoint(CONTROL_SHARE=0.5, TRACKING=True, EVENT_FLUSH_INTERVAL=60.0)
    control, _ = split(users, settings.RECOMMENDATIONS)
    events.buffer().clear()
    client.force_login(control[0])

    home = client.get(reverse("home"))
    fragment = client.get(reverse("recommendations:widget"))
    api = client.get(reverse("recommendations:api"))

    assert home.status_code == fragment.status_code == api.status_code == 200
    assert b'class="recommendations"' not in home.content
    assert fragment.content == b""
    payload = api.json()
    assert (payload["items"], payload["arm"], payload["source"]) == ([], "control", "none")
    assert endpoint.invocations() == 0

    flushed = events.write_buffered()
    assert flushed.impressions == 0
    assert flushed.engagements == 3
    assert not Impression.objects.exists()
    visits = EngagementEvent.objects.all()
    assert {(v.pseudonym, v.arm, v.action) for v in visits} == {
        (pseudonym(control[0].pk), "control", "visit")
    }


@pytest.mark.django_db
@pytest.mark.integration
def test_prefetch_skips_the_control_arm(use_shop_endpoint):
    _, users = make_shop()
    endpoint = use_shop_endpoint(CONTROL_SHARE=0.4, BATCH_SIZE=100)
    control, _ = split(users, settings.RECOMMENDATIONS)
    assert control
    endpoint.reset_stats()
    prefetch_users.apply(args=[[u.pk for u in users]])
    assert endpoint.stats()["instances"] == len(users) - len(control)
    assert all(entries.read_entry(u.pk) is None for u in control)
