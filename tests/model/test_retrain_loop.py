"""The whole loop with real parts: shop orders -> export -> train -> serve -> widget, then new
orders -> export (only what is new) -> train -> the running server swaps -> the app notices the
new model_version and refreshes the entries the old model made."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from model.training.als import TrainingParams
from model.training.release import release, wait_until_served
from recommendations import service
from recommendations.backends.base import reset_clients
from recommendations.prefetch import entries, model_versions
from recommendations.prefetch.users import prefetch_users
from tests.support.factories import make_order
from tests.support.model_server import running_model_server
from tests.support.shop_data import NUM_CATEGORIES, make_shop

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

PARAMS = TrainingParams(factors=4, iterations=3)
BASE = datetime(2025, 5, 1, tzinfo=UTC)


def shop_with_tastes():
    """Customers who buy mostly in one department each, over a few weeks."""
    products, users = make_shop()
    rng = random.Random(5)
    for index, user in enumerate(users):
        liked = [p for p in products if p.pk % NUM_CATEGORIES == index % NUM_CATEGORIES]
        for order in range(3):
            make_order(user, rng.sample(liked, 2), created_at=BASE + timedelta(days=order))
    return products, users


def export(folder) -> list[str]:
    """Run the export command; the names of the data files in the folder."""
    call_command("recommendations_export", "--to", str(folder), "--settle-seconds", "0")
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("interactions-"))


def test_export_train_serve_swap_and_refresh(tmp_path, enqueued):
    products, users = shop_with_tastes()
    training, models = tmp_path / "training", tmp_path / "models"
    assert len(export(training)) == 1
    old = release(training, models, run_evaluation=False, params=PARAMS)["model_version"]

    with running_model_server(
        tmp_path, model_dir=models / "current", extra_args=("--watch-interval", "0.1")
    ) as server:
        reset_clients()
        with override_settings(
            RECOMMENDATIONS={
                **settings.RECOMMENDATIONS,
                **server.recommendations_settings(),
                "HOLDOUT_SHARE": 0.0,
                "TASK_MAX_ATTEMPTS": 1,
                "MODEL_VERSION_REFRESH_SPREAD": 0,  # everybody's turn at once, for the test
            }
        ):
            # The model trained on the export knows the shop's customers by their pseudonyms.
            assert set(server.known_user_ids) == {
                json.loads(line)["user_id"]
                for line in next(training.glob("interactions-*")).read_text().splitlines()
            }
            prefetch_users([u.pk for u in users])
            first, second = users[0], users[1]
            page = service.recommend(first, limit=4)
            assert page.source == "model" and page.model_version == old
            assert model_versions.latest().version == old

            # New orders; the next export holds only them, in a file of its own.
            for user in users[:10]:
                make_order(user, [products[0]], created_at=BASE + timedelta(days=30))
            files = export(training)
            assert len(files) == 2
            new_rows = (training / files[1]).read_text().splitlines()
            assert len(new_rows) == 10

            new = release(training, models, run_evaluation=False, params=PARAMS)["model_version"]
            assert new != old
            assert wait_until_served(server.url + "/ping", new, timeout=30) is True

            # One prefetch brings an answer of the new model: the app notices the version.
            model_versions.forget_local()
            prefetch_users([first.pk])
            assert model_versions.latest().version == new

            # The second customer's entry is the old model's: still shown, and refreshed.
            assert entries.read_entry(second.pk).model_version == old
            model_versions.forget_local()  # as a web process would after LATEST_CHECK_SECONDS
            page = service.recommend(second, limit=4)
            assert page.model_version == old
            assert enqueued == [(second.pk,)]
            prefetch_users([second.pk])  # what the enqueued task does
            page = service.recommend(second, limit=4)
            assert page.model_version == new
            assert enqueued == [(second.pk,)]  # nothing more to refresh
    reset_clients()
