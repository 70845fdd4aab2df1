"""Fixtures of the app's tests (tests/conftest.py has the shared ones).

Imports of the app and of models wait for the fixtures: this file is read before Django is set up.
"""

import pytest

from tests.support.aws_keys import TEST_ACCESS_KEY, TEST_SECRET


@pytest.fixture
def fresh_clients(monkeypatch):
    """No boto3 client outlives the test, and none asks the instance metadata service.

    Credentials are read when a client is made: no client may outlive a test that changes them.
    """
    from recommendations.backends import reset_clients

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_clients()
    yield
    reset_clients()


@pytest.fixture
def test_keys(monkeypatch):
    """The AWS keys the scripted endpoints accept, whatever the environment holds."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)


@pytest.fixture
def shop():
    """The shop of `tests.support.shop_data`: (products, customers)."""
    from tests.support.shop_data import make_shop

    return make_shop()


@pytest.fixture
def empty_cache():
    """The app's cache alias empty before and after the test."""
    from django.core.cache import caches

    from recommendations.conf import app_settings

    caches[app_settings.CACHE_ALIAS].clear()
    yield
    caches[app_settings.CACHE_ALIAS].clear()
