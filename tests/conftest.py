"""Fixtures shared by the whole suite."""

import pytest
from django.conf import settings

from tests.services import in_ci, reachable, require


def pytest_configure(config: pytest.Config) -> None:
    if getattr(settings, "TEST_DB", "sqlite") == "postgres" and not reachable(
        settings.TEST_DATABASE_URL, 5432
    ):
        message = f"PostgreSQL is not reachable at {settings.TEST_DATABASE_URL}"
        if in_ci():
            pytest.exit(message, returncode=1)
        pytest.exit(f"{message}: skipping the PostgreSQL pass locally.", returncode=0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = getattr(settings, "TEST_DB", "sqlite") == "postgres"
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(
                pytest.mark.skip(reason="PostgreSQL-only: runs in the TEST_DB=postgres pass")
            )


@pytest.fixture(autouse=True)
def _empty_in_process_cache() -> None:
    """Every test starts from an empty in-process cache: no prefetched entry or open breaker leaks."""
    from django.core.cache import caches

    for alias, options in settings.CACHES.items():
        # Only the in-process kind: a test must never flush a real Redis it did not fill.
        if options["BACKEND"].endswith("locmem.LocMemCache"):
            caches[alias].clear()


@pytest.fixture
def redis_url() -> str:
    """The real Redis for tests (TEST_REDIS_URL); skipped locally, failed in CI when missing."""
    require("redis", settings.TEST_REDIS_URL, 6379)
    return settings.TEST_REDIS_URL
