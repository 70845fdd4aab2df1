"""The breaker is kept per endpoint and production variant: a broken second variant (the
experiment's TargetVariant) stops calls to that variant only. Real HTTP to a scripted endpoint."""

import pytest

from recommendations import service
from recommendations.tracking.arms import SECOND_VARIANT
from tests.support.scripted_endpoint import (  # noqa: F401
    app_pointed_at,
    aws_error,
    model_answer,
    ok,
    scripted_endpoint_fixture,
)
from tests.support.shop_data import make_shop

pytestmark = pytest.mark.django_db

FAILURES = 3


def settings_for(share: float) -> dict:
    return {
        "ENDPOINT_NAME": "x",
        "CATALOG": "tests.app.shop.catalog.ShopCatalog",
        "BUDGET_MS": 1000,
        "BREAKER_FAILURES": FAILURES,
        "SECOND_VARIANT": "B",
        "SECOND_VARIANT_SHARE": share,
    }


def test_a_broken_second_variant_opens_its_breaker_and_not_the_endpoints(scripted_endpoint):
    _, users = make_shop()
    scripted_endpoint.script(aws_error(503, "ServiceUnavailable", "down"))
    with app_pointed_at(scripted_endpoint, **settings_for(share=1.0)):
        for user in users[:FAILURES]:
            answer = service.recommend(user, 4)
            assert answer.arm == SECOND_VARIANT
            assert answer.fallback_reason == "unavailable"
        assert service.recommend(users[FAILURES], 4).fallback_reason == "breaker_open"
    calls_to_b = len(scripted_endpoint.received)
    assert calls_to_b == FAILURES
    assert all(
        r.headers["x-amzn-sagemaker-target-variant"] == "B" for r in scripted_endpoint.received
    )

    # The same users in the endpoint's usual routing: its breaker never saw a failure.
    scripted_endpoint.script(ok(model_answer("1", "2", "3", "4", "5", "6")))
    with app_pointed_at(scripted_endpoint, **settings_for(share=0.0)):
        answer = service.recommend(users[FAILURES + 1], 4)
    assert answer.source == "model"
    assert len(scripted_endpoint.received) == calls_to_b + 1

    # ...while the variant's breaker still refuses calls to B, without a request.
    with app_pointed_at(scripted_endpoint, **settings_for(share=1.0)):
        assert service.recommend(users[FAILURES + 2], 4).fallback_reason == "breaker_open"
    assert len(scripted_endpoint.received) == calls_to_b + 1
