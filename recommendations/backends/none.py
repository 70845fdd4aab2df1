"""No endpoint at all: `BACKEND = "none"`, the first step of an adoption (docs/installation.md).

Pages serve the fallback ranking (fallback reason "no_endpoint"), the prefetch tasks do nothing and
the circuit breaker is never touched: nothing is called, so nothing fails. The service, the
prefetch and the probe ask `endpoint_configured()` (base.py) before they go near a backend; a
call that reaches this backend anyway is a bug, and says so.
"""

from typing import ClassVar

from ..exceptions import EndpointMisconfigured
from .base import Backend, CallPolicy, EndpointResponse


class NoEndpoint(Backend):
    """The backend of a shop without an endpoint yet: it has no settings and is never called."""

    name = "none"
    has_endpoint: ClassVar[bool] = False

    @property
    def endpoint_label(self) -> str:
        return "none"

    def invoke(
        self, body: bytes, *, policy: CallPolicy, target_variant: str | None
    ) -> EndpointResponse:
        raise EndpointMisconfigured(
            'BACKEND is "none": there is no endpoint to call (the fallback ranking serves pages)'
        )
