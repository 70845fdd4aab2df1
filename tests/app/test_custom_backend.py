"""A backend written outside the app, as docs/writing-a-backend.md describes, changes nothing
but this file: its settings are read through `app_settings`, `manage.py check` tests them against
their kinds and runs its own check, pages are served from it, and the probe speaks its words.

The backend is a fake endpoint in memory (a shelf of item ids the test sets), so that the test
shows the seams, not a network; the built-in backends' own tests use real servers.
"""

import json
from io import StringIO
from typing import ClassVar

import pytest
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.management import CommandError, call_command
from django.test import override_settings

from recommendations.backends import reset_clients
from recommendations.backends.base import Backend, CallPolicy, EndpointResponse
from recommendations.checks import check_settings
from recommendations.conf import app_settings
from recommendations.conf.declared import Setting
from recommendations.conf.kinds import Text, TextList
from recommendations.exceptions import EndpointError, EndpointUnavailable
from recommendations.service import recommend
from tests.support.shop_data import make_shop

BACKEND = f"{__name__}.ShelfBackend"


class ShelfBackend(Backend):
    """Answers every user with SHELF_ITEMS (less what the request excludes), as SHELF_VERSION."""

    name = "shelf"
    settings: ClassVar[dict[str, Setting]] = {
        "SHELF_ITEMS": Setting([], TextList(), "Item ids the shelf answers with, best first."),
        "SHELF_VERSION": Setting("shelf-1", Text(empty=False), "The model version it reports."),
    }

    @classmethod
    def checks(cls) -> list[CheckMessage]:
        if app_settings.SHELF_ITEMS:
            return []
        return [Error("SHELF_ITEMS is empty: the shelf has nothing to answer.", id="shelf.E001")]

    @classmethod
    def health_hint(cls, error: EndpointError) -> str | None:
        if isinstance(error, EndpointUnavailable):
            return "The shelf is closed: give SHELF_ITEMS some item ids."
        return None

    def invoke(
        self, body: bytes, *, policy: CallPolicy, target_variant: str | None
    ) -> EndpointResponse:
        if not app_settings.SHELF_ITEMS:
            raise EndpointUnavailable(endpoint=self.name, detail="an empty shelf")
        request = json.loads(body)
        instances = request.get("instances", [request])
        predictions = [
            {
                "model_version": app_settings.SHELF_VERSION,
                "recommendations": [
                    {"item_id": item_id, "score": 1.0}
                    for item_id in app_settings.SHELF_ITEMS
                    if item_id not in instance["exclude"]
                ][: instance["num_results"]],
            }
            for instance in instances
        ]
        return EndpointResponse(body=json.dumps({"predictions": predictions}).encode())


def shelf(**overrides: object) -> dict:
    return {**settings.RECOMMENDATIONS, "BACKEND": BACKEND, **overrides}


@pytest.fixture(autouse=True)
def fresh_backends():
    reset_clients()
    yield
    reset_clients()


def test_its_settings_are_read_like_the_apps_own():
    with override_settings(RECOMMENDATIONS=shelf()):
        assert app_settings.SHELF_ITEMS == []
        assert app_settings.SHELF_VERSION == "shelf-1"
    with override_settings(RECOMMENDATIONS=shelf(SHELF_ITEMS=["3", "1"])):
        assert app_settings.SHELF_ITEMS == ["3", "1"]
        assert app_settings.unknown_keys() == []


def test_its_settings_are_unknown_while_another_backend_is_configured():
    with override_settings(RECOMMENDATIONS={**settings.RECOMMENDATIONS, "SHELF_ITEMS": ["1"]}):
        with pytest.raises(AttributeError, match="SHELF_VERSION"):
            app_settings.get("SHELF_VERSION")
        assert [m.id for m in check_settings()] == ["recommendations.W001"]


def test_the_system_checks_test_its_settings_and_run_its_own_check():
    with override_settings(RECOMMENDATIONS=shelf(SHELF_ITEMS=["1"])):
        assert check_settings() == []
    with override_settings(RECOMMENDATIONS=shelf()):
        assert [m.id for m in check_settings()] == ["shelf.E001"]
    with override_settings(RECOMMENDATIONS=shelf(SHELF_ITEMS=["1"], SHELF_VERSION="")):
        (message,) = check_settings()
    assert message.id == "recommendations.E021"
    assert "RECOMMENDATIONS['SHELF_VERSION']" in message.msg


@pytest.mark.django_db
def test_pages_are_served_from_it(rf):
    _, users = make_shop()
    request = rf.get("/")
    request.user = users[0]
    with override_settings(RECOMMENDATIONS=shelf(SHELF_ITEMS=["5", "3", "9", "1"])):
        answer = recommend(request, 3)
    assert answer.source == "model"
    assert answer.model_version == "shelf-1"
    assert [item.item_id for item in answer] == ["5", "3", "9"]


@pytest.mark.django_db
def test_the_probe_speaks_its_words():
    out = StringIO()
    with (
        override_settings(RECOMMENDATIONS=shelf()),
        pytest.raises(CommandError, match="not usable"),
    ):
        call_command("recommendations_probe", "--requests", "1", stdout=out)
    assert "The shelf is closed: give SHELF_ITEMS some item ids." in out.getvalue()
