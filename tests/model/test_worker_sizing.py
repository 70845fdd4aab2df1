"""The container's default worker count: what the memory holds for the model, at most one per CPU.

The kernel's files are faked in a temporary folder (/proc/meminfo, /sys/fs/cgroup/...): a test
cannot set this machine's memory or its cgroup limit, and the real values differ from machine to
machine, so the sizing is checked against files written with the numbers each case needs.
"""

import numpy as np
import pytest

from model.aws import container, worker_sizing
from model.inference.recommender import ARRAYS_FILE, METADATA_FILE

GIB = 1024**3
MIB = 1024**2


def write_meminfo(proc, available_kib):
    proc.mkdir(exist_ok=True)
    (proc / "meminfo").write_text(
        f"MemTotal:       25000000 kB\nMemFree:        20000000 kB\n"
        f"MemAvailable:   {available_kib} kB\nBuffers:          100000 kB\n"
    )


@pytest.fixture
def model_dir(tmp_path):
    """A model folder whose arrays are 8 MiB once loaded (compressed on disk to almost nothing)."""
    folder = tmp_path / "model"
    folder.mkdir()
    np.savez_compressed(
        folder / ARRAYS_FILE,
        item_factors=np.zeros((1024, 1024), dtype=np.float32),
        user_factors=np.zeros((1024, 1024), dtype=np.float32),
    )
    (folder / METADATA_FILE).write_text("{}")
    return folder


def test_model_bytes_is_the_arrays_size_once_loaded(model_dir):
    size = worker_sizing.model_bytes(model_dir)
    assert 8 * MIB <= size < 8 * MIB + 4096  # the arrays and their .npy headers


def test_workers_are_what_the_memory_holds_when_cpus_are_more():
    model_size = 3600 * MIB  # EASE at 30k items: 30k x 30k float32
    per_worker = model_size + worker_sizing.WORKER_BASE_BYTES
    count = worker_sizing.default_workers(8, int(2.5 * per_worker), model_size)
    assert count.workers == 2
    assert "8 CPUs" in count.reason
    assert "MiB a worker" in count.reason


def test_workers_are_one_per_cpu_when_the_memory_holds_more():
    assert worker_sizing.default_workers(4, 64 * GIB, 10 * MIB).workers == 4


def test_one_worker_runs_even_when_none_fits():
    count = worker_sizing.default_workers(4, 1 * GIB, 8 * GIB)
    assert count.workers == 1
    assert "not even one worker fits" in count.reason


def test_workers_are_one_per_cpu_when_the_memory_cannot_be_read():
    assert worker_sizing.default_workers(3, None, GIB).workers == 3


def test_meminfo_available_is_read_in_bytes(tmp_path):
    write_meminfo(tmp_path / "proc", 12_000_000)
    assert worker_sizing.meminfo_available_bytes(tmp_path / "proc") == 12_000_000 * 1024


def test_a_cgroup_v2_limit_below_memavailable_wins(tmp_path):
    write_meminfo(tmp_path / "proc", 20 * GIB // 1024)
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{4 * GIB}\n")
    (cgroup / "memory.current").write_text(f"{1 * GIB}\n")
    assert worker_sizing.available_bytes(tmp_path / "proc", cgroup) == 3 * GIB


def test_a_cgroup_v2_without_a_limit_leaves_memavailable(tmp_path):
    write_meminfo(tmp_path / "proc", 5 * GIB // 1024)
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("max\n")
    (cgroup / "memory.current").write_text(f"{1 * GIB}\n")
    assert worker_sizing.available_bytes(tmp_path / "proc", cgroup) == 5 * GIB


def test_a_cgroup_v1_limit_is_read_and_its_no_limit_value_ignored(tmp_path):
    write_meminfo(tmp_path / "proc", 16 * GIB // 1024)
    cgroup = tmp_path / "cgroup"
    (cgroup / "memory").mkdir(parents=True)
    (cgroup / "memory" / "memory.limit_in_bytes").write_text(f"{6 * GIB}\n")
    (cgroup / "memory" / "memory.usage_in_bytes").write_text(f"{2 * GIB}\n")
    assert worker_sizing.available_bytes(tmp_path / "proc", cgroup) == 4 * GIB
    (cgroup / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert worker_sizing.available_bytes(tmp_path / "proc", cgroup) == 16 * GIB


def test_nothing_readable_means_unknown(tmp_path):
    assert worker_sizing.available_bytes(tmp_path / "no-proc", tmp_path / "no-cgroup") is None


def test_serve_settings_default_to_what_the_memory_holds(monkeypatch, model_dir):
    # The machine's CPUs and memory stand in for an 8-CPU instance with room for two workers.
    per_worker = worker_sizing.model_bytes(model_dir) + worker_sizing.WORKER_BASE_BYTES
    monkeypatch.setattr(container.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(worker_sizing, "available_bytes", lambda: 2 * per_worker + MIB)
    settings = container.serve_settings({}, model_dir)
    assert settings.workers == 2
    assert "8 CPUs" in settings.workers_reason


def test_sagemaker_model_server_workers_overrides_the_memory(monkeypatch, model_dir):
    monkeypatch.setattr(worker_sizing, "available_bytes", lambda: 1)
    settings = container.serve_settings({"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}, model_dir)
    assert settings.workers == 3
    assert settings.workers_reason == "SAGEMAKER_MODEL_SERVER_WORKERS"
