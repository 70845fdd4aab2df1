"""State every gunicorn worker and thread of one server shares: faults, counters, the served model.

An anonymous shared memory map plus a process-shared lock, both created in the master process
before gunicorn forks its workers, so a fault set through one worker holds for all of them and
`/_stats` counts every invocation whichever worker served it.
"""

import mmap
import multiprocessing
import struct
from dataclasses import dataclass

# mode index (uint8), latency_ms (uint32), generation (uint32), invocations (uint64),
# instances (uint64); then VARIANT_SLOTS x (name, count).
_HEADER = struct.Struct("<B3xIIQQ")
_VARIANT_NAME_BYTES = 64
_VARIANT = struct.Struct(f"<{_VARIANT_NAME_BYTES}sQ")
VARIANT_SLOTS = 32
_MODEL = struct.Struct("<B16s")  # published (0/1), model folder fingerprint
OTHER_VARIANTS = "(other)"  # counts past VARIANT_SLOTS distinct names land here

# SageMaker gives up on a container after 60 s; a longer added latency only wedges threads.
MAX_FAULT_LATENCY_MS = 60_000

FAULT_MODES = ("none", "hang", "http500", "throttle", "garbage", "model_error", "unavailable")


@dataclass(frozen=True)
class FaultSetting:
    """The active fault: a mode from FAULT_MODES and extra latency in milliseconds."""

    mode: str = "none"
    latency_ms: int = 0
    generation: int = 0  # bumped on every change, so a hanging request notices a reset


class SharedState:
    """Fault switch and invocation counters in memory shared across forked workers."""

    def __init__(self) -> None:
        size = _HEADER.size + VARIANT_SLOTS * _VARIANT.size
        self._memory = mmap.mmap(-1, size)  # anonymous and MAP_SHARED: children see writes
        self._lock = multiprocessing.Lock()
        # The fingerprint of the model folder the newest worker serves (see reloading.py).
        self._model = mmap.mmap(-1, _MODEL.size)
        self._model_lock = multiprocessing.Lock()

    # --- faults -------------------------------------------------------------------------
    def fault(self) -> FaultSetting:
        """The current fault setting."""
        with self._lock:
            mode, latency_ms, generation, _, _ = _HEADER.unpack_from(self._memory, 0)
        return FaultSetting(FAULT_MODES[mode], latency_ms, generation)

    def set_fault(self, mode: str, latency_ms: int = 0) -> FaultSetting:
        """Switch the fault (mode "none" and latency 0 switch it off)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
        if not 0 <= latency_ms <= MAX_FAULT_LATENCY_MS:
            raise ValueError(f"latency_ms must be from 0 to {MAX_FAULT_LATENCY_MS}")
        with self._lock:
            _, _, generation, invocations, instances = _HEADER.unpack_from(self._memory, 0)
            _HEADER.pack_into(
                self._memory,
                0,
                FAULT_MODES.index(mode),
                latency_ms,
                (generation + 1) % 2**32,
                invocations,
                instances,
            )
        return self.fault()

    # --- the served model ---------------------------------------------------------------
    def publish_model(self, fingerprint: bytes) -> None:
        """Record the fingerprint (16 bytes) of the model folder a worker just swapped to."""
        with self._model_lock:
            _MODEL.pack_into(self._model, 0, 1, fingerprint)

    def published_model(self) -> bytes | None:
        """The last fingerprint published, or None before any."""
        with self._model_lock:
            present, fingerprint = _MODEL.unpack_from(self._model, 0)
        return fingerprint if present else None

    # --- counters -----------------------------------------------------------------------
    def record_invocation(self, variant: str) -> None:
        """Count one invocation routed to `variant`."""
        name = variant.encode()[:_VARIANT_NAME_BYTES]
        with self._lock:
            mode, latency_ms, generation, invocations, instances = _HEADER.unpack_from(
                self._memory, 0
            )
            _HEADER.pack_into(
                self._memory, 0, mode, latency_ms, generation, invocations + 1, instances
            )
            self._count_variant(name)

    def record_instances(self, count: int) -> None:
        """Count the users asked for in one invocation."""
        with self._lock:
            mode, latency_ms, generation, invocations, instances = _HEADER.unpack_from(
                self._memory, 0
            )
            _HEADER.pack_into(
                self._memory, 0, mode, latency_ms, generation, invocations, instances + count
            )

    def stats(self) -> dict[str, object]:
        """{"invocations": N, "instances": N, "by_variant": {name: N}}."""
        with self._lock:
            _, _, _, invocations, instances = _HEADER.unpack_from(self._memory, 0)
            by_variant = {}
            for slot in range(VARIANT_SLOTS):
                raw, count = _VARIANT.unpack_from(self._memory, _slot_offset(slot))
                if count:
                    by_variant[raw.rstrip(b"\0").decode(errors="replace")] = count
        return {"invocations": invocations, "instances": instances, "by_variant": by_variant}

    def reset_stats(self) -> None:
        """Zero every counter (the fault setting stays)."""
        with self._lock:
            mode, latency_ms, generation, _, _ = _HEADER.unpack_from(self._memory, 0)
            _HEADER.pack_into(self._memory, 0, mode, latency_ms, generation, 0, 0)
            start = _slot_offset(0)
            self._memory[start : start + VARIANT_SLOTS * _VARIANT.size] = bytes(
                VARIANT_SLOTS * _VARIANT.size
            )

    def _count_variant(self, name: bytes) -> None:
        # Linear probe over a handful of slots; the caller holds the lock.
        padded = name.ljust(_VARIANT_NAME_BYTES, b"\0")
        for slot in range(VARIANT_SLOTS - 1):
            raw, count = _VARIANT.unpack_from(self._memory, _slot_offset(slot))
            if raw == padded or not count:
                _VARIANT.pack_into(self._memory, _slot_offset(slot), padded, count + 1)
                return
        other = _slot_offset(VARIANT_SLOTS - 1)
        _, count = _VARIANT.unpack_from(self._memory, other)
        _VARIANT.pack_into(self._memory, other, OTHER_VARIANTS.encode(), count + 1)


def _slot_offset(slot: int) -> int:
    return _HEADER.size + slot * _VARIANT.size
