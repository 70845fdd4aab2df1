"""Synchronous waits with a timeout and progress lines, for endpoints and training jobs.

A wait only reads: interrupting it (Ctrl-C, a timeout) leaves SageMaker working, and a re-run of
the same command finds the resources by their names and waits again.
"""

import time
from collections.abc import Callable
from typing import Any

from .errors import EndpointFailed, WaitTimedOut
from .plan import Runner

ENDPOINT_FAILED = {"Failed", "UpdateRollbackFailed", "OutOfService"}
DEFAULT_TIMEOUT = 3600
DEFAULT_POLL = 30.0


def poll(
    fetch: Callable[[], dict[str, Any]],
    status_of: Callable[[dict[str, Any]], str],
    finished: Callable[[dict[str, Any]], bool],
    *,
    label: str,
    runner: Runner,
    timeout_seconds: float,
    poll_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Fetch until `finished`; a progress line whenever the status changes; WaitTimedOut past it."""
    started = clock()
    last = None
    while True:
        answer = fetch()
        status = status_of(answer)
        elapsed = clock() - started
        if status != last:
            runner.note(f"{label}: {status} ({elapsed:.0f}s)")
            last = status
        if finished(answer):
            return answer
        if elapsed >= timeout_seconds:
            raise WaitTimedOut(
                f"{label} is still {status} after {timeout_seconds:.0f}s; SageMaker carries on: "
                "re-run the same command to keep waiting"
            )
        sleep(max(0.0, min(poll_seconds, timeout_seconds - elapsed)))


def wait_for_endpoint(
    runner: Runner,
    endpoint_name: str,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT,
    poll_seconds: float = DEFAULT_POLL,
) -> dict[str, Any]:
    """Wait until the endpoint is InService; EndpointFailed with SageMaker's FailureReason."""

    def finished(answer: dict[str, Any]) -> bool:
        status = answer["EndpointStatus"]
        if status in ENDPOINT_FAILED:
            reason = answer.get("FailureReason") or "SageMaker gave no FailureReason"
            raise EndpointFailed(f"endpoint {endpoint_name} is {status}: {reason}")
        return status == "InService"

    return poll(
        lambda: runner.read("sagemaker", "DescribeEndpoint", EndpointName=endpoint_name),
        lambda answer: answer["EndpointStatus"],
        finished,
        label=f"endpoint {endpoint_name}",
        runner=runner,
        timeout_seconds=timeout_seconds,
        poll_seconds=poll_seconds,
    )
