"""A throwaway redis-server subprocess that a test may kill, pause and restart, and the Django
cache settings that point at it (the shop's own socket timeouts)."""

import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings as django_settings
from django.test import override_settings

from tests.support.services import in_ci


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_caches(port: int) -> dict:
    """The shop's Redis cache backend on `port` with the shop's own socket timeouts."""
    return {
        "default": {
            "BACKEND": django_settings.REDIS_CACHE_BACKEND,
            "LOCATION": f"redis://127.0.0.1:{port}/15",
            "KEY_PREFIX": f"test-cache-{uuid.uuid4().hex[:8]}",
            "OPTIONS": django_settings.REDIS_CACHE_OPTIONS,
        }
    }


class RedisServer:
    """A throwaway redis-server on its own port, which tests may kill, pause and restart."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.kill()


@pytest.fixture(name="redis_server")
def redis_server_fixture() -> Iterator[RedisServer]:
    """A redis-server subprocess on a spare port, with the shop's cache settings pointing at it."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = RedisServer(free_port())
    server.start()
    try:
        with override_settings(CACHES=redis_caches(server.port)):
            yield server
    finally:
        server.stop()
