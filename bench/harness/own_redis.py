"""A redis-server of the bench's own that can be restarted on the same port, its data kept.

It writes an append-only file (`appendfsync always`), as a Redis that serves as a Celery broker
should: a restart then keeps the queued messages and the ones workers hold unacknowledged.
"""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .shop import START_TIMEOUT, free_port, stop


@dataclass
class OwnRedis:
    """A redis-server on `port` with its files in `work_dir`."""

    port: int
    work_dir: Path
    process: subprocess.Popen | None = field(default=None)

    def url(self, db: int) -> str:
        """The REDIS_URL of database `db`."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> Any:
        """A redis-py client on database `db` (fails fast while the server is down)."""
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, db=db, socket_timeout=2, socket_connect_timeout=1
        )

    def start(self) -> None:
        """Start the server and wait until it answers."""
        import redis

        log = (self.work_dir / "redis.log").open("ab")
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
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.work_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited; see redis.log in the work folder")
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, as `systemctl stop` does)."""
        if self.process is not None:
            stop(self.process)
            self.process = None

    def restart(self, down_seconds: float) -> None:
        """Stop the server, leave it down `down_seconds`, start it again on the same port."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextmanager
def own_redis(work_dir: Path) -> Iterator[OwnRedis]:
    """Start an `OwnRedis` on a free loopback port; stop it on exit."""
    folder = work_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    server = OwnRedis(free_port(), folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
