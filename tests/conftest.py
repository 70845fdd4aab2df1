"""Fixtures shared by the whole suite, and the choice of its settings.

tests/app runs on the app's minimal settings (tests/app/settings.py), the other folders on the
demo shop's (tests/settings.py). Django is set up once per process, so one run takes one of them:
`make test-sqlite` runs `pytest tests/app`, then `pytest tests/model tests/demo tests/repo`.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.services import in_ci, reachable, require

TESTS = Path(__file__).resolve().parent
APP_TESTS = TESTS / "app"
# Folders with settings of their own: tests/oscar runs in an Oscar shop (`make test-oscar`).
OWN_SETTINGS = {"app": "tests.app.settings", "oscar": "tests.oscar.settings"}


def settings_module_for(args: list[str]) -> str:
    """tests.app.settings when every path asked for is in tests/app, tests.oscar.settings when
    every one is in tests/oscar, tests.settings when none is in either."""
    folders = set()
    for arg in args:
        path = Path(arg.split("::")[0]).resolve()
        own = [
            name for name in OWN_SETTINGS if path == TESTS / name or TESTS / name in path.parents
        ]
        if own:
            folders.add(own[0])
        elif path in APP_TESTS.parents:  # tests/ itself, or the repository: every kind
            folders |= {"app", "others"}
        else:
            folders.add("others")
    if len(folders) == 1 and (only := next(iter(folders))) in OWN_SETTINGS:
        return OWN_SETTINGS[only]
    if folders & set(OWN_SETTINGS):
        raise pytest.UsageError(
            "tests/app runs on the app's own settings, tests/oscar on an Oscar shop's and the "
            "other folders on the demo shop's: run them apart, `pytest tests/app`, "
            "`pytest tests/oscar` and `pytest tests/model tests/demo tests/repo` (`make "
            "test-sqlite` runs the first and the last, `make test-oscar` the Oscar one)."
        )
    return "tests.settings"


def pytest_configure(config: pytest.Config) -> None:
    # pytest-django sets Django up after this hook when no --ds, DJANGO_SETTINGS_MODULE or ini
    # option named the settings before.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module_for(config.args))
    settings.INSTALLED_APPS  # noqa: B018 - loads them, so that pytest-django sets Django up
    if getattr(settings, "TEST_DB", "sqlite") == "postgres" and not reachable(
        settings.TEST_DATABASE_URL, 5432
    ):
        message = f"PostgreSQL is not reachable at {settings.TEST_DATABASE_URL}"
        if in_ci():
            pytest.exit(message, returncode=1)
        pytest.exit(
            f"{message}: skipping the PostgreSQL pass locally (`make test-sqlite` runs the suite"
            " on SQLite).",
            returncode=0,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = getattr(settings, "TEST_DB", "sqlite") == "postgres"
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(
                pytest.mark.skip(reason="PostgreSQL-only: runs in the TEST_DB=postgres pass")
            )


@pytest.fixture(autouse=True)
def _no_full_collection_during_the_page(request: pytest.FixtureRequest) -> None:
    """Integration tests start right after a full garbage collection.

    The page's budget counts from the request's start, and a full collection of this process's
    heap (hundreds of thousands of objects by mid-suite) can take longer than a test's budget:
    a page it lands on finds no time left for the endpoint, and a fault test sees no endpoint
    call. Deployments freeze the heap after start-up (demo_shop/wsgi.py); here the collection
    is done before the test rather than in the middle of its page.
    """
    if request.node.get_closest_marker("integration"):
        import gc

        gc.collect()


@pytest.fixture(autouse=True)
def _empty_in_process_cache() -> None:
    """Every test starts from empty in-process caches and process-local state: nothing leaks."""
    from django.core.cache import caches

    for alias, options in settings.CACHES.items():
        # Only the in-process kind: a test must never flush a real Redis it did not fill.
        if options["BACKEND"].endswith("locmem.LocMemCache"):
            caches[alias].clear()
    # Everything the app keeps per process (snapshots, near-cache entries, breakers, the newest
    # model version seen...) goes the way a setting change drops it.
    from recommendations.cache import local_state

    local_state.drop_all()


@pytest.fixture
def redis_url() -> str:
    """The real Redis for tests (TEST_REDIS_URL); skipped locally, failed in CI when missing."""
    require("redis", settings.TEST_REDIS_URL, 6379)
    return settings.TEST_REDIS_URL


@pytest.fixture(scope="session")
def model_server_process(tmp_path_factory: pytest.TempPathFactory):
    """One real model endpoint (`python -m model.serve`) for the whole session.

    Trained on `tests.support.model_server.default_training_data()` (200 users "user-0".."user-199",
    80 items "1".."80"); every other user id gets the popularity prior. Accepts the SigV4 key in
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Prefer `model_server`, which resets it per test.
    """
    from tests.support.model_server import running_model_server

    with running_model_server(tmp_path_factory.mktemp("model-server")) as server:
        yield server


@pytest.fixture
def model_server(model_server_process):
    """The session's model endpoint with faults off and counters zeroed for this test.

    Yields a `tests.support.model_server.ModelServer`: `.url`, `.endpoint_name`, `.region`,
    `.client(read_timeout=...)`, `.invoke(doc)`, `.set_fault(mode, latency_ms=0)`,
    `.invocations()`, `.stats()`, `.reset_stats()`, `.recommendations_settings()` (for
    `override_settings(RECOMMENDATIONS=...)`). Faults are switched off again after the test, which
    also releases requests still hanging.
    """
    if model_server_process.process.poll() is not None:
        pytest.fail(f"the model endpoint died:\n{model_server_process.log()}", pytrace=False)
    model_server_process.set_fault("none")
    model_server_process.reset_stats()
    yield model_server_process
    model_server_process.set_fault("none")


@pytest.fixture(scope="session")
def shop_endpoint(tmp_path_factory):
    """A model endpoint trained on `tests.support.shop_data`'s customers and products (see that module)."""
    from tests.support.model_server import running_model_server
    from tests.support.shop_data import training_interactions

    with running_model_server(
        tmp_path_factory.mktemp("shop-endpoint"), training_interactions()
    ) as server:
        yield server


@pytest.fixture
def use_shop_endpoint(shop_endpoint):
    """Point the app at `shop_endpoint` for this test: `server = use_shop_endpoint(BUDGET_MS=300)`.

    Faults off, counters zeroed, the shop's catalog adapter (TEST_CATALOG), the boto3 client built (so the first
    page does not fall back while it warms up); extra RECOMMENDATIONS entries as keywords.
    """
    from contextlib import ExitStack

    from django.test import override_settings

    from recommendations.backends.base import get_backend, reset_clients

    stack = ExitStack()

    def use(**overrides):
        shop_endpoint.set_fault("none")
        shop_endpoint.reset_stats()
        reset_clients()
        stack.enter_context(
            override_settings(
                RECOMMENDATIONS={
                    **shop_endpoint.recommendations_settings(),
                    "CATALOG": settings.TEST_CATALOG,
                    **overrides,
                }
            )
        )
        get_backend().warm_up()
        return shop_endpoint

    yield use
    stack.close()
    shop_endpoint.set_fault("none")
    reset_clients()


@pytest.fixture(scope="module")
def moto_url():
    """moto's server mode on a free loopback port: a real AWS-compatible HTTP server (S3,
    CloudWatch) for this module. The code under test knows it only as an `endpoint_url`."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def enqueued(monkeypatch):
    """Records what the request path enqueues instead of publishing it (a stand-in for the
    broker: these tests are about when the service asks for a refresh, not about Celery)."""
    from recommendations.prefetch import refresh_queue

    calls = []
    monkeypatch.setattr(refresh_queue, "safe_enqueue", lambda task, *args: calls.append(args))
    return calls
