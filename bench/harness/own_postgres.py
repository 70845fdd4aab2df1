"""A PostgreSQL cluster of the bench's own, so that restarting it never touches anyone else's.

    with own_postgres(work_dir) as cluster:      # initdb into work_dir, pg_ctl start on a free port
        url = cluster.create_database("shop")
        cluster.restart()                        # pg_ctl restart -m fast: open sessions are ended

PostgreSQL refuses to run as root, so when the bench runs as root the server runs as the
`postgres` user (`runuser -u postgres --`). The cluster listens on 127.0.0.1 only, trusts local
connections (it holds throwaway data), and is stopped and removed on exit.
"""

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .shop import START_TIMEOUT, free_port

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", USER, "--", *command]
    return command


@dataclass
class OwnPostgres:
    """A running cluster in `data_dir`, on `port`."""

    data_dir: Path
    port: int
    log_path: Path

    def url(self, database: str) -> str:
        """The DATABASE_URL of `database` in this cluster."""
        return f"postgres://{USER}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, timeout: float = START_TIMEOUT) -> None:
        subprocess.run(
            _as_server_user([str(BIN / "pg_ctl"), "-D", str(self.data_dir), *args]),
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=on"
        self._pg_ctl("start", "-w", "-l", str(self.log_path), "-o", options)

    def restart(self) -> None:
        """Restart the server the way an operator would (`-m fast`: sessions are ended, open
        transactions rolled back); returns once it accepts connections again."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=on"
        self._pg_ctl("restart", "-w", "-m", "fast", "-l", str(self.log_path), "-o", options)

    def stop(self) -> None:
        """Stop the server (immediately: its data is thrown away)."""
        self._pg_ctl("stop", "-w", "-m", "immediate", timeout=30)

    def create_database(self, name: str) -> str:
        """Create `name`; its DATABASE_URL."""
        subprocess.run(
            [str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT,
        )
        return self.url(name)


@contextmanager
def own_postgres(work_dir: Path) -> Iterator[OwnPostgres]:
    """`initdb` a new cluster under `work_dir` and start it on a free port; stop and remove it after."""
    data_dir = work_dir / "postgres"
    data_dir.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, USER, USER)
        # The server user must reach the folder through the bench's private work folder.
        work_dir.chmod(0o755)
    subprocess.run(
        _as_server_user(
            [str(BIN / "initdb"), "-D", str(data_dir), "-U", USER, "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    log_path = data_dir / "server.log"
    cluster = OwnPostgres(data_dir, free_port(), log_path)
    try:
        cluster.start()
        deadline = time.monotonic() + START_TIMEOUT
        while subprocess.run(
            [str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(cluster.port)],
            capture_output=True,
        ).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):  # it is gone already
            cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
