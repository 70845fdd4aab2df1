"""The backend interface: where predictions come from, as a template method.

`Backend.recommend_many` encodes the requests with the codec, calls the `invoke` hook of the
concrete backend (SageMaker Runtime, an API Gateway URL, ...) within timeouts that fit the page's
latency budget, then decodes and validates the answer. Backends raise only
`recommendations.exceptions` errors; nothing outside `backends/` knows botocore or requests.

A backend owns everything about itself: its settings (`settings`, read through `app_settings`),
its system checks (`checks`) and the probe's words for its errors (`health_hint`, `location`).
docs/writing-a-backend.md walks through one.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from django.core.checks import CheckMessage
from django.utils.module_loading import import_string

from ..cache import local_state
from ..conf import app_settings
from ..conf.declared import Setting
from ..exceptions import BadResponse, EndpointError, EndpointMisconfigured
from .codecs import Codec, get_codec
from .extras import MissingExtra
from .predictions import Prediction, PredictionRequest

__all__ = [
    "Backend",
    "CallPolicy",
    "EndpointResponse",
    "Prediction",
    "PredictionRequest",
    "call_policy",
    "endpoint_configured",
    "get_backend",
    "reset_clients",
]

logger = logging.getLogger(__name__)

PURPOSES = ("page", "task")
# On the page path the connect timeout takes this share of each attempt's slice of the budget,
# the read timeout the rest, so that connect + read of every attempt together fit the budget.
CONNECT_SHARE = 1 / 3
# The socket timeouts of all page attempts together take this share of the budget, and the page's
# wait for the endpoint ends this share of the budget after its request started (service.py).
# The rest is headroom for what follows the wait within the budget: a thread that wakes late on a
# busy machine, the failure's bookkeeping and the fallback (measured by bench/outage.py:
# docs/performance.md, "When the endpoint fails").
TIMEOUT_SHARE = 0.7
MIN_TIMEOUT = 0.001
# Errors worth an immediate second attempt while a page waits: a dropped pooled connection or a
# lost packet. Throttling and 5xx are not retried on the page (an immediate retry only adds load).
PAGE_RETRY_REASONS = frozenset({"timeout", "connection"})


@dataclass(frozen=True)
class CallPolicy:
    """Timeouts and attempts of one endpoint call."""

    purpose: str
    connect_timeout: float  # seconds
    read_timeout: float  # seconds, per socket read
    attempts: int  # attempts made by the backend itself, back to back (page path)
    transport_attempts: int  # attempts made by the transport with its own backoff (task path)
    # The longest answer body the backend reads; a longer one is a BadResponse (None: no limit).
    max_answer_bytes: int | None = None


def call_policy(purpose: str = "page") -> CallPolicy:
    """Timeouts and attempts for a page view (within BUDGET_MS) or a Celery task (no page waiting)."""
    if purpose == "page":
        attempts = max(1, int(app_settings.MAX_ATTEMPTS))
        # Each attempt gets an equal slice of the budget; with no backoff between attempts (see
        # Backend._invoke_within_policy) all of them together cannot outlast the budget.
        slice_seconds = app_settings.budget_seconds * TIMEOUT_SHARE / attempts
        connect = app_settings.CONNECT_TIMEOUT
        read = app_settings.READ_TIMEOUT
        return CallPolicy(
            purpose=purpose,
            connect_timeout=max(
                MIN_TIMEOUT,
                float(connect) if connect is not None else slice_seconds * CONNECT_SHARE,
            ),
            read_timeout=max(
                MIN_TIMEOUT,
                float(read) if read is not None else slice_seconds * (1 - CONNECT_SHARE),
            ),
            attempts=attempts,
            transport_attempts=1,
        )
    if purpose == "task":
        # Tasks retry in the transport (botocore's standard mode, urllib3's Retry) because its
        # jittered backoff and retry quota are what a throttled or recovering endpoint needs.
        return CallPolicy(
            purpose=purpose,
            connect_timeout=max(MIN_TIMEOUT, float(app_settings.TASK_CONNECT_TIMEOUT)),
            read_timeout=max(MIN_TIMEOUT, float(app_settings.TASK_READ_TIMEOUT)),
            attempts=1,
            transport_attempts=max(1, int(app_settings.TASK_MAX_ATTEMPTS)),
        )
    raise ValueError(f"purpose must be one of {PURPOSES}, not {purpose!r}")


@dataclass(frozen=True)
class EndpointResponse:
    """The raw answer of a successful call."""

    body: bytes
    variant: str | None = None  # the production variant that answered
    content_type: str | None = None


class Backend:
    """Base of every backend: encode -> invoke (the subclass hook) -> decode and validate."""

    name: str = "base"
    # The RECOMMENDATIONS keys this backend reads and no other part of the app does: each with its
    # default, its kind (the system checks test values against it) and its line in the reference.
    settings: ClassVar[dict[str, Setting]] = {}
    # False for a backend that stands for no endpoint at all (`none`): pages serve the fallback,
    # prefetching and the breaker are left alone, the probe has nothing to call.
    has_endpoint: ClassVar[bool] = True

    def __init__(self, codec: Codec | None = None) -> None:
        self.codec = codec if codec is not None else get_codec()

    @classmethod
    def checks(cls) -> list[CheckMessage]:
        """System checks of this backend's settings, run when it is the configured BACKEND and
        every setting has the right kind (`manage.py check`)."""
        return []

    @classmethod
    def health_hint(cls, error: EndpointError) -> str | None:
        """What `error` usually means with this backend, in plain words for the probe
        (`manage.py recommendations_probe`); None leaves it to the probe's general words."""
        return None

    @classmethod
    def location(cls) -> str:
        """Where the endpoint is, as the probe's findings say it ("in region eu-west-1")."""
        return ""

    @property
    def endpoint_label(self) -> str:
        """What to call the endpoint in logs and errors (a name or a host, never a credential)."""
        return self.name

    def invoke(
        self, body: bytes, *, policy: CallPolicy, target_variant: str | None
    ) -> EndpointResponse:
        """Send one body to the endpoint and return its answer; raise EndpointError subclasses."""
        raise NotImplementedError

    def warm_up(self, purpose: str = "page") -> None:
        """Create the client for `purpose` ahead of the first call (no network)."""

    def is_warm(self, purpose: str = "page") -> bool:
        """Whether a call for `purpose` can start without first building a client."""
        return True

    def warm_up_in_background(self, purpose: str = "page") -> None:
        """Build the client in a daemon thread (once at a time), so that no page waits for it."""
        with _warming_lock:
            if (self, purpose) in _warming:
                return
            _warming.add((self, purpose))

        def warm() -> None:
            try:
                self.warm_up(purpose)
            except EndpointError as error:
                logger.warning(
                    "Could not prepare the %s client: %s",
                    self.name,
                    error.reason,
                    extra={"endpoint": self.endpoint_label, "reason": error.reason},
                )
            finally:
                with _warming_lock:
                    _warming.discard((self, purpose))

        threading.Thread(target=warm, name="recommendations-warm-up", daemon=True).start()

    def recommend(
        self,
        request: PredictionRequest,
        *,
        purpose: str = "page",
        target_variant: str | None = None,
    ) -> Prediction:
        """One user's prediction."""
        return self.recommend_many([request], purpose=purpose, target_variant=target_variant)[0]

    def recommend_many(
        self,
        requests: Sequence[PredictionRequest],
        *,
        purpose: str = "page",
        target_variant: str | None = None,
    ) -> list[Prediction]:
        """Predictions for these requests in one call, in request order."""
        requests = list(requests)
        if not requests:
            return []
        policy = replace(
            call_policy(purpose), max_answer_bytes=self.codec.max_answer_bytes(len(requests))
        )
        body = self.codec.encode(requests)
        if target_variant is None:
            target_variant = app_settings.TARGET_VARIANT or None
        started = time.perf_counter()
        response = self._invoke_within_policy(body, policy, target_variant)
        predictions = self._decode(response.body, len(requests))
        logger.debug(
            "recommendations.backend call succeeded",
            extra={
                "endpoint": self.endpoint_label,
                "backend": self.name,
                "purpose": purpose,
                "users": len(requests),
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return [
            replace(prediction, variant=prediction.variant or response.variant)
            for prediction in predictions
        ]

    def _invoke_within_policy(
        self, body: bytes, policy: CallPolicy, target_variant: str | None
    ) -> EndpointResponse:
        for attempt in range(1, policy.attempts + 1):
            try:
                return self.invoke(body, policy=policy, target_variant=target_variant)
            except EndpointError as err:
                if attempt >= policy.attempts or err.reason not in PAGE_RETRY_REASONS:
                    raise
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _decode(self, body: bytes, expected: int) -> list[Prediction]:
        try:
            predictions = self.codec.decode(body, expected)
        except BadResponse as err:
            raise BadResponse(endpoint=self.endpoint_label, detail=err.detail) from err
        except Exception as err:
            # A custom codec that trips over the body is the body's fault as far as the page cares.
            raise BadResponse(
                endpoint=self.endpoint_label,
                detail=f"the codec failed on the body ({type(err).__name__})",
            ) from err
        if len(predictions) != expected:
            raise BadResponse(
                endpoint=self.endpoint_label,
                detail=f"the codec returned {len(predictions)} predictions for {expected} requests",
            )
        return predictions


BUILTIN_BACKENDS = {
    "sagemaker": "recommendations.backends.sagemaker.SageMakerBackend",
    "http": "recommendations.backends.http.HTTPBackend",
    "none": "recommendations.backends.none.NoEndpoint",
}

# Backends whose client is being built in the background, per purpose.
_warming: set[tuple[Backend, str]] = set()
_warming_lock = threading.Lock()

_backends: dict[tuple[str, str], Backend] = {}
_backends_lock = threading.Lock()
_client_resetters: list[Callable[[], None]] = []


def get_backend() -> Backend:
    """The configured backend, built once per process and rebuilt when BACKEND or CODEC change."""
    key = (str(app_settings.BACKEND), str(app_settings.CODEC))
    backend = _backends.get(key)
    if backend is not None:
        return backend
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _build_backend(*key)
            _backends[key] = backend
        return backend


def endpoint_configured() -> bool:
    """Whether the configured BACKEND calls an endpoint (False for `none`).

    A BACKEND that cannot be built counts as an endpoint: its calls fail and say why."""
    try:
        return get_backend().has_endpoint
    except EndpointMisconfigured:
        return True


def backend_class(path: str | None = None) -> type[Backend]:
    """The Backend subclass BACKEND (or `path`) names; EndpointMisconfigured when there is none."""
    path = str(app_settings.BACKEND) if path is None else path
    try:
        found = import_string(BUILTIN_BACKENDS.get(path, path))
    except MissingExtra as err:
        raise EndpointMisconfigured(str(err)) from err
    except ImportError as err:
        raise EndpointMisconfigured(
            f"BACKEND {path!r} is neither a built-in backend nor an importable dotted path"
        ) from err
    if not (isinstance(found, type) and issubclass(found, Backend)):
        raise EndpointMisconfigured(
            f"BACKEND {path!r} is not a recommendations.backends.base.Backend subclass"
        )
    return found


def _build_backend(path: str, codec_name: str) -> Backend:
    return backend_class(path)(codec=get_codec(codec_name))


def register_client_resetter(resetter: Callable[[], None]) -> None:
    """Let a backend module drop its cached clients when `reset_clients()` runs."""
    if resetter not in _client_resetters:
        _client_resetters.append(resetter)


def reset_clients() -> None:
    """Forget every cached backend and client (tests that change credentials; forked children)."""
    with _backends_lock:
        _backends.clear()
    for resetter in list(_client_resetters):
        resetter()


def _forget_backends_after_fork() -> None:
    # A fresh lock, not the parent's: another thread may have held it at the moment of the fork.
    global _backends_lock, _warming_lock
    _backends_lock = threading.Lock()
    _backends.clear()
    _warming_lock = threading.Lock()
    _warming.clear()


# A forked worker (gunicorn --preload, Celery prefork) builds its own backends and clients;
# each backend module forgets its clients the same way.
local_state.register("backends", after_fork=_forget_backends_after_fork)
