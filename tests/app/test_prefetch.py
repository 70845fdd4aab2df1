"""Prefetch tasks, stale-while-revalidate and the prefetch command, run in-process against real
HTTP servers (model/serve.py, or the scripted endpoint for exact error answers).
"""

import math
import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from recommendations import service
from recommendations.backends.base import reset_clients
from recommendations.prefetch import entries
from recommendations.tasks import prefetch_active_users, prefetch_users
from tests.app.shop.celery import app as celery_app
from tests.support.scripted_endpoint import aws_error, model_answer, ok, scripted_endpoint_fixture  # noqa: F401
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

CATALOG = "tests.app.shop.catalog.ShopCatalog"


@pytest.fixture
def endpoint(use_shop_endpoint):
    return use_shop_endpoint(BATCH_SIZE=10, TASK_MAX_ATTEMPTS=1)


def test_a_task_that_runs_twice_does_the_same_as_once(endpoint):
    _, users = make_shop()
    ids = [user.pk for user in users[:5]]
    prefetch_users.apply(args=[ids])
    first = {pk: entries.read_entry(pk).item_ids for pk in ids}
    prefetch_users.apply(args=[ids])
    assert {pk: entries.read_entry(pk).item_ids for pk in ids} == first


def test_prefetch_sends_one_invocation_per_batch(endpoint):
    _, users = make_shop()
    prefetch_users.apply(args=[[user.pk for user in users[:25]]])
    assert endpoint.invocations() == 3  # BATCH_SIZE 10


def test_throttling_is_retried_until_the_retries_run_out(use_shop_endpoint):
    # Eager apply() runs each retry at once, so every attempt is counted at the server. The
    # breaker is held out of reach here (its own tests are below).
    from recommendations.tasks import MAX_RETRIES

    endpoint = use_shop_endpoint(BATCH_SIZE=10, TASK_MAX_ATTEMPTS=1, BREAKER_FAILURES=10**6)
    _, users = make_shop()
    endpoint.set_fault("throttle")
    result = prefetch_users.apply(args=[[users[0].pk]])
    assert result.state == "FAILURE"
    assert endpoint.invocations() == 1 + MAX_RETRIES
    assert entries.read_entry(users[0].pk) is None


def test_a_validation_error_is_not_retried(scripted_endpoint):
    _, users = make_shop()
    scripted_endpoint.script(
        aws_error(400, "ValidationError", "Endpoint x of account y not found.")
    )
    with override_settings(
        RECOMMENDATIONS={
            "ENDPOINT_NAME": "x",
            "ENDPOINT_URL": scripted_endpoint.url,
            "CATALOG": CATALOG,
        }
    ):
        reset_clients()
        result = prefetch_users.apply(args=[[users[0].pk]])
    assert result.state == "SUCCESS"
    assert result.result == 0
    assert len(scripted_endpoint.received) == 1


def test_only_the_users_not_yet_written_are_retried(scripted_endpoint):
    from recommendations.tracking.pseudonyms import pseudonym

    _, users = make_shop()
    ids = [users[0].pk, users[1].pk, users[2].pk]
    scripted_endpoint.script(
        ok({"predictions": [model_answer(1, 2), model_answer(3, 4)]}),
        aws_error(429, "ThrottlingException", "Rate exceeded"),
        ok(model_answer(5, 6)),
    )
    with override_settings(
        RECOMMENDATIONS={
            "ENDPOINT_NAME": "x",
            "ENDPOINT_URL": scripted_endpoint.url,
            "CATALOG": CATALOG,
            "BATCH_SIZE": 2,
            "TASK_MAX_ATTEMPTS": 1,
        }
    ):
        reset_clients()
        result = prefetch_users.apply(args=[ids])
    assert result.state == "SUCCESS"
    assert [entries.read_entry(pk).item_ids for pk in ids] == [
        ("1", "2"),
        ("3", "4"),
        ("5", "6"),
    ]
    _, throttled, retried = (r.body.decode() for r in scripted_endpoint.received)
    assert pseudonym(ids[2]) in throttled
    assert pseudonym(ids[2]) in retried
    assert pseudonym(ids[0]) not in retried and pseudonym(ids[1]) not in retried


def test_prefetch_active_users_fans_out_in_batches(endpoint, monkeypatch):
    _, users = make_shop()
    from tests.app.shop.checkout import place_order

    for user in users[:23]:
        place_order(user, {user.pk % 50 + 1: 1})
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    assert prefetch_active_users.apply().result == 23
    assert endpoint.invocations() == math.ceil(23 / 10)
    assert all(entries.read_entry(user.pk) for user in users[:23])


def test_a_fresh_entry_is_used_without_a_refresh(endpoint, enqueued, rf):
    _, users = make_shop()
    entries.write_entry(users[0].pk, [str(i) for i in range(1, 20)], "v1")
    request = rf.get("/")
    request.user = users[0]
    assert service.recommend(request, 4).source == "model"
    assert enqueued == []


def test_a_stale_entry_is_used_and_refreshed_once(endpoint, enqueued, rf):
    _, users = make_shop()
    with override_settings(RECOMMENDATIONS={"CATALOG": CATALOG, "FRESH_TTL": 1}):
        entries.write_entry(users[0].pk, [str(i) for i in range(1, 20)], "v-old")
    entry = entries.read_entry(users[0].pk)
    assert entry.is_fresh(now=time.time() + 2) is False
    request = rf.get("/")
    request.user = users[0]
    with override_settings(RECOMMENDATIONS={"CATALOG": CATALOG, "FRESH_TTL": 1}):
        time.sleep(1.1)
        first = service.recommend(request, 4)
        second = service.recommend(request, 4)
    assert first.model_version == second.model_version == "v-old"
    assert enqueued == [(users[0].pk,)]  # deduplicated by a short cache.add lock
    assert endpoint.invocations() == 0


def test_prefetch_command_fills_the_cache(endpoint):
    from io import StringIO

    _, users = make_shop()
    out = StringIO()
    call_command("recommendations_prefetch", "--user", *[str(u.pk) for u in users[:12]], stdout=out)
    assert "Prefetched 12 users in 2 invocations" in out.getvalue()
    assert all(entries.read_entry(u.pk) for u in users[:12])


def test_prefetch_command_rejects_nonsense(endpoint):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="active-days"):
        call_command("recommendations_prefetch", "--active-days", "0")


def test_task_failures_open_the_breaker_and_then_the_task_stops_calling(use_shop_endpoint):
    from recommendations.backends.breaker import OPEN, get_breaker

    endpoint = use_shop_endpoint(TASK_MAX_ATTEMPTS=1, BREAKER_FAILURES=3)
    _, users = make_shop()
    endpoint.set_fault("http500")
    result = prefetch_users.apply(args=[[users[0].pk]])
    assert get_breaker(endpoint.endpoint_name).state == OPEN
    # Three failures opened it; the retries that followed met the open breaker, not the endpoint.
    assert endpoint.invocations() == 3
    assert result.state == "SUCCESS"
    assert entries.read_entry(users[0].pk) is None


def test_a_task_makes_no_call_while_the_breaker_is_open(use_shop_endpoint):
    from recommendations.backends.breaker import OPEN, get_breaker
    from recommendations.exceptions import EndpointTimeout

    endpoint = use_shop_endpoint(BREAKER_FAILURES=3)
    _, users = make_shop()
    breaker = get_breaker(endpoint.endpoint_name)
    while breaker.state != OPEN:  # pages met a dead endpoint
        breaker.record_failure(EndpointTimeout())
    prefetch_users.apply(args=[[users[0].pk, users[1].pk]])
    assert endpoint.invocations() == 0


def test_a_task_success_counts_for_the_breaker(use_shop_endpoint):
    from recommendations.backends.breaker import CLOSED, get_breaker
    from recommendations.exceptions import EndpointTimeout

    endpoint = use_shop_endpoint(BREAKER_FAILURES=3, BREAKER_MIN_CALLS=1000)
    _, users = make_shop()
    breaker = get_breaker(endpoint.endpoint_name)
    for _ in range(2):
        breaker.record_failure(EndpointTimeout())
    prefetch_users.apply(args=[[users[0].pk]])  # a success breaks the streak
    breaker.record_failure(EndpointTimeout())
    assert breaker.state == CLOSED


def test_waits_for_the_breaker_do_not_use_up_the_error_retries(use_shop_endpoint):
    from recommendations.tasks import MAX_RETRIES

    endpoint = use_shop_endpoint(TASK_MAX_ATTEMPTS=1, BREAKER_FAILURES=10**6)
    _, users = make_shop()
    endpoint.set_fault("throttle")
    # The message as it is after ten waits for an open breaker (Celery counts them as retries).
    result = prefetch_users.apply(args=[[users[0].pk]], kwargs={"breaker_waits": 10}, retries=10)
    assert result.state == "FAILURE"
    assert endpoint.invocations() == 1 + MAX_RETRIES


def test_an_endpoint_that_refuses_every_request_is_not_asked_user_by_user(scripted_endpoint):
    # Every request refused as input (e.g. a CustomAttributes the endpoint rejects): splitting
    # stops at the second lone user refused with nobody served, instead of asking all 16 alone.
    _, users = make_shop()
    scripted_endpoint.script(
        aws_error(424, "ModelError", "Received client error (400)", OriginalStatusCode=400)
    )
    with override_settings(
        RECOMMENDATIONS={
            "ENDPOINT_NAME": "x",
            "ENDPOINT_URL": scripted_endpoint.url,
            "CATALOG": CATALOG,
            "BATCH_SIZE": 16,
            "TASK_MAX_ATTEMPTS": 1,
        }
    ):
        reset_clients()
        result = prefetch_users.apply(args=[[user.pk for user in users[:16]]])
    assert result.state == "SUCCESS"
    assert len(scripted_endpoint.received) == 6  # 16, 8, 4, 2, then two users alone
    assert not any(entries.read_entry(user.pk) for user in users[:16])
