"""CPU time of the bench's server processes, from /proc: what a request costs the machine, which
stays meaningful when other work on a shared machine makes requests/s noisy."""

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (gunicorn's workers, for instance)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the task may have ended meanwhile
                queue.extend(int(child) for child in task.read_text().split())
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds used so far by these processes and their descendants."""
    total = 0
    for root in pids:
        for pid in descendants(root):
            try:
                # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS_PER_SECOND
