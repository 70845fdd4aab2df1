"""Fault switches: what an invocation answers while one is on, mimicking what AWS would send.

| mode        | the client sees                                                        |
| ----------- | ---------------------------------------------------------------------- |
| none        | the model's answer (after `latency_ms`, if set)                        |
| hang        | nothing until its read timeout (the server holds the request up to 30 s) |
| http500     | HTTP 500 InternalFailure                                               |
| throttle    | HTTP 429 ThrottlingException                                           |
| garbage     | HTTP 200 with a body that is not JSON                                  |
| model_error | HTTP 424 ModelError (the container answered 500)                       |
| unavailable | HTTP 503 ServiceUnavailable                                            |
"""

import time

from . import aws_errors
from .aws_errors import AwsError
from .shared_state import FaultSetting, SharedState

HANG_SECONDS = 30.0  # longer than any sane client timeout, short enough to never wedge a test run
_POLL_SECONDS = 0.02
GARBAGE_BODY = b"<html><body>\x00\xff garbage from the endpoint \xfe</body>"


class Garbage:
    """Marker result: answer HTTP 200 with GARBAGE_BODY."""


def wait(state: SharedState, setting: FaultSetting, seconds: float) -> bool:
    """Sleep up to `seconds`; return False early if the fault setting changes meanwhile.

    Sleeping in small steps lets a reset through /_faults release requests that are hanging, so a
    test's clean-up frees the server's threads at once.
    """
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        time.sleep(min(_POLL_SECONDS, remaining))
        if state.fault().generation != setting.generation:
            return False


def apply(state: SharedState, endpoint_name: str, region: str) -> AwsError | type[Garbage] | None:
    """Run the active fault: sleep for latency or a hang, then return what to answer instead.

    None means: no fault answer, invoke the model as usual.
    """
    setting = state.fault()
    if setting.latency_ms:
        wait(state, setting, setting.latency_ms / 1000.0)
    mode = setting.mode
    if mode == "none":
        return None
    if mode == "hang":
        wait(state, setting, HANG_SECONDS)
        return aws_errors.model_timeout(endpoint_name, region)
    if mode == "garbage":
        return Garbage
    if mode == "model_error":
        return aws_errors.model_error(
            500,
            '{"error": "InternalError", "message": "injected model failure"}',
            endpoint_name,
            region,
        )
    return {
        "http500": aws_errors.internal_failure,
        "throttle": aws_errors.throttling,
        "unavailable": aws_errors.service_unavailable,
    }[mode]()
