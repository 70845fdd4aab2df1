"""Quality: on demo-like data with real category tastes, the personalised fallback beats popularity.

The data comes from seed_demo's generator (numpy, no database); the split and the metrics are
model/evaluate.py's, so the figures compare with the model's.
"""

import numpy as np
import pytest

from bench.fallback_quality import evaluate_fallback
from demo_shop.storefront.demo_data import DemoSize, generate
from model.data.interactions import Interactions

NOW = 1_750_000_000.0


@pytest.fixture(scope="module")
def demo_history() -> tuple[Interactions, dict[int, object]]:
    data = generate(DemoSize(products=300, categories=10, customers=800, lines=12_000, seed=7))
    line_order = data.line_order
    interactions = Interactions(
        data.order_customer[line_order].astype(str),
        data.line_product.astype(str),
        data.line_quantity.astype(np.float32),
        NOW - data.order_seconds_ago[line_order].astype(np.float64),
    )
    categories = {item: int(c) for item, c in enumerate(data.product_category.tolist())}
    return interactions, categories


def test_personalised_fallback_recall_is_clearly_above_popularity(demo_history):
    interactions, categories = demo_history

    results = evaluate_fallback(interactions, categories, k=10)

    fallback = results["personalised fallback"]
    print({name: round(s.recall, 4) for name, s in results.items()})
    assert fallback.users > 300
    assert fallback.recall > 1.3 * results["plain popularity"].recall
    assert fallback.recall > 1.3 * results["decayed popularity"].recall
