"""Reaching the real services the tests need, and what to do when one is missing.

Locally a missing service skips the tests that need it, with a message saying what to start;
under CI=true it fails them, so a CI run can never pass by skipping.
"""

import os
import socket
from urllib.parse import urlparse

import pytest

START_HINTS = {
    "redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require(service: str, url: str, default_port: int) -> None:
    """Skip (locally) or fail (CI) the current test when `service` at `url` is not reachable."""
    if reachable(url, default_port):
        return
    message = f"{service} is not reachable at {url}; start it with: {START_HINTS[service]}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
