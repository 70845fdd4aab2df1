"""The fallback-only mode, `BACKEND = "none"` (docs/installation.md, the first step): pages are
served from the fallback ranking with the reason "no_endpoint", the prefetch tasks do nothing,
the circuit breaker is never consulted, the probe says there is no endpoint, and the checks pass
without ENDPOINT_NAME.

No endpoint exists in this mode, so nothing can be called for real: the spies below stand in for
one. They wrap every backend's call path and the breaker's methods, count what reaches them, and
fail the test at the first call (a spy that only counted could be swallowed as an endpoint error).
"""

import re
from io import StringIO

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from prometheus_client import REGISTRY

from recommendations import service
from recommendations.backends.base import Backend, endpoint_configured, get_backend, reset_clients
from recommendations.backends.breaker import CircuitBreaker
from recommendations.backends.none import NoEndpoint
from recommendations.checks import check_settings
from recommendations.prefetch import entries
from recommendations.tasks import prefetch_active_users, prefetch_user, prefetch_users
from recommendations.tracking import arms
from recommendations.tracking.pseudonyms import pseudonym
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

WIDGET = re.compile(
    r'<section class="recommendations"[^>]*data-source="(\w+)"(.*?)</section>', re.S
)
ITEM = re.compile(r'data-item-id="([^"]+)"')


def fallback_only(**overrides: object) -> dict:
    """The test shop's settings with no endpoint: BACKEND "none" and no ENDPOINT_NAME."""
    base = {k: v for k, v in settings.RECOMMENDATIONS.items() if k != "ENDPOINT_NAME"}
    return {**base, "BACKEND": "none", **overrides}


class Spy:
    """Counts calls that must not happen, and fails them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def forbid(self, monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> None:
        def called(*args: object, **kwargs: object) -> None:
            self.calls.append(f"{owner.__name__}.{name}")
            raise AssertionError(f"{owner.__name__}.{name} was called with no endpoint")

        monkeypatch.setattr(owner, name, called)


@pytest.fixture
def spy(monkeypatch):
    spy = Spy()
    for name in ("recommend_many", "invoke", "warm_up"):
        spy.forbid(monkeypatch, Backend, name)
    spy.forbid(monkeypatch, NoEndpoint, "invoke")
    for name in ("allow", "record_success", "record_failure", "reset"):
        spy.forbid(monkeypatch, CircuitBreaker, name)
    reset_clients()
    yield spy
    reset_clients()


def fallback_count(reason: str) -> float:
    return REGISTRY.get_sample_value("recommendations_fallback_total", {"reason": reason}) or 0.0


def test_none_is_a_built_in_backend_without_an_endpoint():
    with override_settings(RECOMMENDATIONS=fallback_only()):
        assert isinstance(get_backend(), NoEndpoint)
        assert endpoint_configured() is False
    # The test shop's own settings name an endpoint (the sagemaker backend).
    assert endpoint_configured() is True


def test_a_page_serves_the_fallback_with_no_call_and_no_breaker(client, spy, empty_cache):
    _, users = make_shop()
    before = fallback_count(service.NO_ENDPOINT)
    with override_settings(RECOMMENDATIONS=fallback_only()):
        client.force_login(users[0])
        response = client.get(reverse("home"))
        assert response.status_code == 200
        match = WIDGET.search(response.content.decode())
        assert match, "the page has no recommendations widget"
        assert match.group(1) == "fallback"
        assert len(ITEM.findall(match.group(2))) == 8

        answer = service.recommend(users[1])
    assert (answer.source, answer.fallback_reason, answer.arm) == (
        "fallback",
        service.NO_ENDPOINT,
        arms.MODEL,
    )
    assert answer.model_version is None and answer.answered is None
    assert spy.calls == []
    # Counted as what it is, not as an endpoint error.
    assert fallback_count(service.NO_ENDPOINT) - before == 2


def test_a_cached_entry_from_an_earlier_endpoint_is_not_served(spy, empty_cache):
    # A shop that goes back to "none" serves the fallback, not what an old endpoint left behind.
    _, users = make_shop()
    entries.write_entry(users[0].pk, [str(pk) for pk in range(1, 20)], "v-old")
    with override_settings(RECOMMENDATIONS=fallback_only()):
        answer = service.recommend(users[0])
    assert (answer.source, answer.fallback_reason) == ("fallback", service.NO_ENDPOINT)
    assert spy.calls == []


def test_the_arms_still_apply_and_all_see_the_fallback(spy, empty_cache):
    _, users = make_shop()
    shares = {"HOLDOUT_SHARE": 0.4, "CONTROL_SHARE": 0.2, "TRACKING": True}
    with override_settings(RECOMMENDATIONS=fallback_only(**shares)):
        by_arm: dict[str, list] = {}
        for user in users:
            by_arm.setdefault(arms.arm_for(pseudonym(user.pk)).name, []).append(user)
        assert {arms.MODEL, arms.HOLDOUT, arms.CONTROL} <= set(by_arm)
        model = service.recommend(by_arm[arms.MODEL][0])
        holdout = service.recommend(by_arm[arms.HOLDOUT][0])
        control = service.recommend(by_arm[arms.CONTROL][0])
    assert (model.arm, model.source, model.fallback_reason) == (
        arms.MODEL,
        "fallback",
        service.NO_ENDPOINT,
    )
    assert (holdout.arm, holdout.source, holdout.fallback_reason) == (
        arms.HOLDOUT,
        "fallback",
        arms.HOLDOUT,
    )
    assert len(model) == len(holdout) == 8
    assert (control.arm, control.source, len(control)) == (arms.CONTROL, service.NO_WIDGET, 0)
    assert spy.calls == []


def test_prefetch_tasks_make_no_call_and_write_nothing(spy, empty_cache):
    _, users = make_shop()
    ids = [user.pk for user in users[:5]]
    with override_settings(RECOMMENDATIONS=fallback_only()):
        assert prefetch_users.apply(args=[ids]).get() == 0
        assert prefetch_user.apply(args=[ids[0]]).get() == 0
        assert prefetch_active_users.apply().get() == 0
    assert all(entries.read_entry(pk) is None for pk in ids)
    assert spy.calls == []


def test_the_probe_says_there_is_no_endpoint_and_exits_0(spy):
    from django.core.management import call_command

    out = StringIO()
    with override_settings(RECOMMENDATIONS=fallback_only()):
        call_command("recommendations_probe", "--alert", stdout=out)
    assert "No endpoint configured" in out.getvalue()
    assert "fallback" in out.getvalue()
    assert spy.calls == []


def test_the_checks_pass_without_an_endpoint_name():
    with override_settings(RECOMMENDATIONS=fallback_only()):
        assert check_settings() == []
    # The same settings with the sagemaker backend need the name, and the hint names "none".
    with override_settings(RECOMMENDATIONS=fallback_only(BACKEND="sagemaker")):
        errors = check_settings()
    assert [error.id for error in errors] == ["recommendations.E003"]
    assert '"none"' in errors[0].hint
