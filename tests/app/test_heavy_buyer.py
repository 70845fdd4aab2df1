"""A customer who bought more than the model accepts in `exclude` (model/inference/protocol.py MAX_EXCLUDE):
their page views and prefetch batches against the real model endpoint (model/serve.py via boto3)
must neither open the shared breaker nor cost other customers their recommendations.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from model.inference.protocol import MAX_EXCLUDE
from recommendations import service
from recommendations.backends.breaker import CLOSED, get_breaker
from recommendations.prefetch import entries
from recommendations.tasks import prefetch_users
from tests.app.shop.models import Category, Order, OrderLine, Product
from tests.support.scripted_endpoint import scripted_endpoint_fixture  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

BREAKER = {"BREAKER_FAILURES": 3, "BREAKER_MIN_CALLS": 5, "BUDGET_MS": 1000}
# More distinct purchases than the model accepts in one request's exclude list.
HEAVY_PURCHASES = MAX_EXCLUDE + 100
FIRST_EXTRA_PK = 1001


def make_heavy_buyer(user, purchases: int = HEAVY_PURCHASES) -> list[str]:
    """Give `user` `purchases` distinct products (inactive ones, outside the model's catalogue)
    over two orders a day apart; returns the wire ids, most recently bought first."""
    category = Category.objects.create(name="Archive", slug="archive")
    products = Product.objects.bulk_create(
        Product(
            pk=FIRST_EXTRA_PK + n,
            category=category,
            name=f"Archived {n}",
            slug=f"archived-{n}",
            price=Decimal("1.00"),
            stock=0,
            is_active=False,
        )
        for n in range(purchases)
    )
    older, newer = products[: purchases // 2], products[purchases // 2 :]
    for when, bought in ((timezone.now() - timedelta(days=1), older), (timezone.now(), newer)):
        order = Order.objects.create(user=user, created_at=when)
        OrderLine.objects.bulk_create(
            OrderLine(order=order, product=product, unit_price=product.price) for product in bought
        )
    return [str(product.pk) for product in reversed(newer)] + [
        str(product.pk) for product in reversed(older)
    ]


def test_heavy_buyer_page_views_are_served_by_the_model_and_leave_the_breaker_closed(
    use_shop_endpoint, shop
):
    endpoint = use_shop_endpoint(**BREAKER)
    _, users = shop
    heavy, others = users[0], users[1:4]
    make_heavy_buyer(heavy)
    for _ in range(2 * BREAKER["BREAKER_FAILURES"]):
        entries.delete_entry(heavy.pk)  # every view reaches the endpoint
        assert service.recommend(heavy, 4).source == "model"
    assert get_breaker(endpoint.endpoint_name).state == CLOSED
    for user in others:
        assert service.recommend(user, 4).source == "model"


def test_an_input_the_model_rejects_counts_against_neither_the_breaker_nor_other_users(
    use_shop_endpoint, shop
):
    # An exclude bound above the model's limit: the heavy buyer's request is refused (a 400 from
    # the container, a ModelError from SageMaker Runtime) on every view.
    endpoint = use_shop_endpoint(EXCLUDE_MAX=HEAVY_PURCHASES, **BREAKER)
    _, users = shop
    heavy, others = users[0], users[1:4]
    make_heavy_buyer(heavy)
    for _ in range(2 * BREAKER["BREAKER_FAILURES"]):
        answer = service.recommend(heavy, 4)
        assert answer.source == "fallback"
        assert answer.fallback_reason == "model_error"
    assert get_breaker(endpoint.endpoint_name).state == CLOSED
    for user in others:
        assert service.recommend(user, 4).source == "model"


def test_a_rejected_user_in_a_prefetch_batch_does_not_fail_the_others(use_shop_endpoint, shop):
    endpoint = use_shop_endpoint(
        EXCLUDE_MAX=HEAVY_PURCHASES, BATCH_SIZE=50, TASK_MAX_ATTEMPTS=1, **BREAKER
    )
    _, users = shop
    heavy = users[3]
    make_heavy_buyer(heavy)
    batch = [user.pk for user in users[:8]]
    result = prefetch_users.apply(args=[batch])
    assert result.state == "SUCCESS"
    assert result.result == len(batch) - 1
    assert entries.read_entry(heavy.pk) is None
    assert all(entries.read_entry(pk) for pk in batch if pk != heavy.pk)
    assert get_breaker(endpoint.endpoint_name).state == CLOSED
    # Split in halves down to the one user: a handful of calls, not one per user.
    assert endpoint.invocations() <= 1 + 2 * 3


def test_a_heavy_buyer_in_a_prefetch_batch_is_prefetched_with_the_others(use_shop_endpoint, shop):
    endpoint = use_shop_endpoint(BATCH_SIZE=50, TASK_MAX_ATTEMPTS=1, **BREAKER)
    _, users = shop
    make_heavy_buyer(users[3])
    batch = [user.pk for user in users[:8]]
    assert prefetch_users.apply(args=[batch]).result == len(batch)
    assert all(entries.read_entry(pk) for pk in batch)
    assert endpoint.invocations() == 1


# -- what is sent: the most recent EXCLUDE_MAX purchases (scripted endpoint, exact bodies) -----


def test_exclude_holds_the_most_recent_purchases_up_to_exclude_max(scripted_endpoint, shop):
    import json

    from tests.support.scripted_endpoint import app_pointed_at, model_answer, ok

    _, users = shop
    bought = make_heavy_buyer(users[0])
    oldest = bought[-1]
    # The model knows nothing of the exclude it was not sent: it answers an old purchase first.
    scripted_endpoint.script(ok(model_answer(oldest, "1", "2", "3", "4", "5")))
    with app_pointed_at(
        scripted_endpoint,
        ENDPOINT_NAME="x",
        CATALOG="tests.app.shop.catalog.ShopCatalog",
        BUDGET_MS=1000,
        EXCLUDE_MAX=10,
    ):
        answer = service.recommend(users[0], 4)
    (received,) = scripted_endpoint.received
    assert json.loads(received.body)["exclude"] == sorted(bought[:10])
    # Bought items past the bound are dropped from the answer before it is kept or shown.
    assert answer.source == "model"
    assert oldest not in [item.item_id for item in answer]
    assert oldest not in entries.read_entry(users[0].pk).item_ids


def test_exclude_max_must_be_a_whole_number(settings):
    from recommendations.checks import check_settings

    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "EXCLUDE_MAX": 0}
    assert "recommendations.E011" in [message.id for message in check_settings()]
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "EXCLUDE_MAX": 300}
    assert "recommendations.E011" not in [message.id for message in check_settings()]


def test_an_adapter_that_knows_no_order_still_sends_at_most_exclude_max(settings):
    from recommendations.catalog import CatalogAdapter
    from recommendations.serving.exclusions import exclude_for

    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "EXCLUDE_MAX": 3}
    # The default adapter has no purchase dates (recent_item_ids is empty): a stable choice.
    assert exclude_for(CatalogAdapter(), 1, {"5", "1", "9", "7"}) == ("1", "5", "7")
    assert exclude_for(CatalogAdapter(), 1, {"5", "1"}) == ("1", "5")
