"""The prefetch fan-out streams active users page by page: no message holds more than a batch, no
process reads more than a page, every active user is prefetched once per round."""

import math
from datetime import timedelta
from queue import Empty

import pytest
from django.utils import timezone

from recommendations.catalog import CatalogAdapter
from recommendations.prefetch import entries, fan_out
from recommendations.tasks import prefetch_active_users
from tests.app.shop.catalog import ShopCatalog
from tests.app.shop.celery import app as celery_app
from tests.app.shop.models import Order
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_with_activity():
    """23 users who ordered in the last days, 4 whose only order is older than ACTIVE_DAYS."""
    from tests.app.shop.checkout import place_order

    _, users = make_shop()
    for user in users[:27]:
        place_order(user, {user.pk % 50 + 1: 1})
    old = [user.pk for user in users[23:27]]
    Order.objects.filter(user_id__in=old).update(created_at=timezone.now() - timedelta(days=90))
    return [user.pk for user in users[:23]], old


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(fan_out, "PAGE_BATCHES", 1)  # pages of one batch: 10 users


@pytest.fixture
def page_reads(monkeypatch):
    """Every page the shop's catalog answers (the real query, recorded on the way out)."""
    reads = []
    real = ShopCatalog.active_user_id_page

    def recorded(self, since, after, limit):
        page = real(self, since, after, limit)
        reads.append((after, limit, page))
        return page

    monkeypatch.setattr(ShopCatalog, "active_user_id_page", recorded)
    return reads


def test_every_active_user_is_prefetched_page_by_page(
    use_shop_endpoint, shop_with_activity, small_pages, page_reads, monkeypatch
):
    endpoint = use_shop_endpoint(BATCH_SIZE=10, TASK_MAX_ATTEMPTS=1)
    active, inactive = shop_with_activity
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    assert prefetch_active_users.apply().result == 10  # the first page; the others ran after it
    assert all(entries.read_entry(pk) for pk in active)
    assert not any(entries.read_entry(pk) for pk in inactive)
    assert endpoint.invocations() == math.ceil(23 / 10)
    assert [len(page) for _, _, page in page_reads] == [10, 10, 3]
    assert all(limit == 10 for _, limit, _ in page_reads)
    assert [after for after, _, _ in page_reads] == [0, sorted(active)[9], sorted(active)[19]]


def drain(queue_name: str = "recommendations.prefetch") -> list[tuple[str, list, dict]]:
    """The messages waiting on the in-memory broker (the test settings' `memory://`)."""
    messages = []
    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue(queue_name)
        try:
            while True:
                message = queue.get(block=False)
                args, kwargs, _ = message.decode()
                messages.append((message.headers["task"], args, kwargs))
                message.ack()
        except Empty:
            pass
        finally:
            queue.close()
    return messages


def test_a_page_publishes_one_message_per_batch_and_one_for_the_next_page(
    use_shop_endpoint, shop_with_activity, small_pages, monkeypatch
):
    use_shop_endpoint(BATCH_SIZE=4)
    monkeypatch.setattr(fan_out, "PAGE_BATCHES", 2)  # pages of 8 users in batches of 4
    active, _ = shop_with_activity
    drain()
    assert prefetch_active_users.apply().result == 8
    messages = drain()
    batches = [args[0] for task, args, _ in messages if task.endswith(".prefetch_users")]
    assert batches == [sorted(active)[:4], sorted(active)[4:8]]
    (following,) = [kwargs for task, _, kwargs in messages if task.endswith("active_users")]
    assert following["after"] == sorted(active)[7]
    # The next page keeps the first page's cutoff, so a long round does not drift.
    since = fan_out.active_since(since=following["since"])
    assert abs((timezone.now() - since) - timedelta(days=30)) < timedelta(minutes=1)

    assert prefetch_active_users.apply(kwargs=following).result == 8
    assert (
        prefetch_active_users.apply(kwargs={**following, "after": sorted(active)[15]}).result == 7
    )
    last = drain()
    assert sum(1 for task, _, _ in last if task.endswith("active_users")) == 1  # after page 2 only


def test_an_adapter_without_a_page_query_pages_its_full_list():
    class ListedActive(CatalogAdapter):
        # A shop's adapter that only implements the list (the app's older contract).
        def active_user_ids(self, since):
            return [9, 3, 7, 1]

    assert ListedActive().active_user_id_page(timezone.now(), 3, 1) == [7]
    assert ListedActive().active_user_id_page(timezone.now(), 0, 10) == [1, 3, 7, 9]


def test_the_prefetch_command_reads_active_users_page_by_page(
    use_shop_endpoint, shop_with_activity, small_pages, page_reads
):
    from io import StringIO

    from django.core.management import call_command

    use_shop_endpoint(TASK_MAX_ATTEMPTS=1)
    active, inactive = shop_with_activity
    out = StringIO()
    call_command("recommendations_prefetch", "--active-days", "30", "--batch-size", "4", stdout=out)
    assert "Prefetched 23 users in 6 invocations" in out.getvalue()
    assert all(entries.read_entry(pk) for pk in active)
    assert not any(entries.read_entry(pk) for pk in inactive)
    assert [len(page) for _, _, page in page_reads] == [4, 4, 4, 4, 4, 3]


def test_the_prefetch_command_pages_through_every_user_account(
    use_shop_endpoint, shop_with_activity, small_pages
):
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    use_shop_endpoint(TASK_MAX_ATTEMPTS=1)
    accounts = list(get_user_model().objects.filter(is_active=True).values_list("pk", flat=True))
    out = StringIO()
    call_command("recommendations_prefetch", "--all", "--batch-size", "4", stdout=out)
    assert f"Prefetched {len(accounts)} users" in out.getvalue()
    assert all(entries.read_entry(pk) for pk in accounts)
