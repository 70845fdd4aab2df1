"""The fault switch and counters shared between forked server workers."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from model.local_endpoint import faults
from model.local_endpoint.shared_state import OTHER_VARIANTS, VARIANT_SLOTS, SharedState

ROOT = Path(__file__).resolve().parents[2]


# Forked from a fresh interpreter, single-threaded as gunicorn's arbiter is when it forks its
# workers: pytest's own process runs threads (xdist, servers), and forking it is unsafe.
FORKED_WORKER = """
import json, os
from model.local_endpoint.shared_state import SharedState

state = SharedState()
pid = os.fork()
if pid == 0:
    try:
        for _ in range(5):
            state.record_invocation("AllTraffic")
        state.record_invocation("B")
        state.record_instances(50)
        state.set_fault("throttle", 25)
    finally:
        os._exit(0)
os.waitpid(pid, 0)
print(json.dumps({"stats": state.stats(), "fault": [state.fault().mode, state.fault().latency_ms]}))
"""


def test_counts_and_faults_from_a_forked_worker_are_seen_by_the_parent():
    completed = subprocess.run(
        [sys.executable, "-c", FORKED_WORKER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen_by_parent = json.loads(completed.stdout)
    assert seen_by_parent["stats"] == {
        "invocations": 6,
        "instances": 50,
        "by_variant": {"AllTraffic": 5, "B": 1},
    }
    assert seen_by_parent["fault"] == ["throttle", 25]


def test_counting_from_many_threads_loses_nothing():
    state = SharedState()
    threads = [
        threading.Thread(target=lambda: [state.record_invocation("v") for _ in range(500)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state.stats()["by_variant"] == {"v": 2000}


def test_reset_zeroes_counters_but_keeps_the_fault():
    state = SharedState()
    state.set_fault("garbage")
    state.record_invocation("A")
    state.reset_stats()
    assert state.stats() == {"invocations": 0, "instances": 0, "by_variant": {}}
    assert state.fault().mode == "garbage"


def test_variants_past_the_table_size_are_counted_together():
    state = SharedState()
    for n in range(VARIANT_SLOTS + 5):
        state.record_invocation(f"variant-{n}")
    by_variant = state.stats()["by_variant"]
    assert sum(by_variant.values()) == VARIANT_SLOTS + 5
    assert by_variant[OTHER_VARIANTS] == 6


def test_unknown_fault_modes_and_latencies_are_refused():
    state = SharedState()
    with pytest.raises(ValueError, match="mode must be one of"):
        state.set_fault("explode")
    with pytest.raises(ValueError, match="latency_ms"):
        state.set_fault("none", -1)


def test_a_hang_ends_as_soon_as_the_fault_is_switched_off():
    state = SharedState()
    state.set_fault("hang")
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(faults.apply(state, "e", "eu-west-1")))
    thread.start()
    time.sleep(0.1)
    assert thread.is_alive()  # still hanging
    state.set_fault("none")
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert outcome[0].code == "ModelError"
