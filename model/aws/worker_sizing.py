"""How many gunicorn workers the container's memory holds, when SageMaker does not say.

Each worker loads its own copy of the model, so one worker per CPU can ask for more memory than
the instance has (an EASE model of 30k items is 3.6 GB of arrays). The default is therefore
min(CPUs, available memory // memory of one worker), at least 1. Available memory is the lower of
the cgroup's limit less its usage (cgroup v2, else v1) and the kernel's MemAvailable; one worker's
memory is the model's arrays (their uncompressed size in model.npz) plus the interpreter and its
libraries.
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..inference.recommender import ARRAYS_FILE

# A worker with no model: CPython, numpy, scipy, werkzeug and gunicorn's own state.
WORKER_BASE_BYTES = 256 * 1024 * 1024
# cgroup v1 writes a limit near 2**63 (rounded down to the page size) for "no limit".
_CGROUP_V1_NO_LIMIT = 2**60


@dataclass(frozen=True)
class WorkerCount:
    """The default number of workers and the reason, for the log."""

    workers: int
    reason: str


def model_bytes(model_dir: Path) -> int:
    """The model's arrays as loaded: the uncompressed size of each member of model.npz."""
    path = model_dir / ARRAYS_FILE
    if not path.is_file():
        return 0
    with zipfile.ZipFile(path) as archive:
        return sum(member.file_size for member in archive.infolist())


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # cgroup v2 writes "max" for no limit


def cgroup_available_bytes(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The cgroup's memory limit less what it uses now; None when there is no limit."""
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),  # cgroup v2
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),  # cgroup v1
    ):
        limit = _read_int(cgroup_root / limit_file)
        if limit is not None and limit < _CGROUP_V1_NO_LIMIT:
            return max(limit - (_read_int(cgroup_root / usage_file) or 0), 0)
    return None


def meminfo_available_bytes(proc_root: Path = Path("/proc")) -> int | None:
    """The kernel's estimate of memory available without swapping (MemAvailable), or None."""
    try:
        lines = (proc_root / "meminfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            number, _, unit = value.strip().partition(" ")
            return int(number) * (1024 if unit == "kB" else 1)
    return None


def available_bytes(
    proc_root: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """The lower of the cgroup's room and MemAvailable; None when neither can be read."""
    known = [
        value
        for value in (cgroup_available_bytes(cgroup_root), meminfo_available_bytes(proc_root))
        if value is not None
    ]
    return min(known) if known else None


def default_workers(cpus: int, available: int | None, model_size: int) -> WorkerCount:
    """min(cpus, available // (model_size + WORKER_BASE_BYTES)), at least 1, with the reason."""
    per_worker = model_size + WORKER_BASE_BYTES
    if available is None:
        return WorkerCount(max(cpus, 1), f"one per CPU ({cpus}); the memory could not be read")
    fits = available // per_worker
    workers = max(min(cpus, fits), 1)
    mib = 1024 * 1024
    reason = (
        f"{cpus} CPUs, {available // mib} MiB available, about {per_worker // mib} MiB a worker "
        f"(model {model_size // mib} MiB)"
    )
    if fits < 1:
        reason += ": not even one worker fits, running one"
    return WorkerCount(workers, reason)
