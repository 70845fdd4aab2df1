"""Endpoint health, as `manage.py recommendations_probe` reports it: call each configured variant
with a sample user, time the calls with the page's own timeouts, and say in plain words what is
wrong when they fail.

The probe calls the backend directly, past the circuit breaker: it must see the endpoint as it
is now, even while the breaker keeps pages away from it. Nothing here prints or logs a credential:
findings are built from the app's error types and their sanitised details
(see `recommendations/exceptions.py`).
"""

import math
import time
from collections import Counter
from dataclasses import dataclass, field

from ..backends.base import (
    TIMEOUT_SHARE,
    Backend,
    Prediction,
    PredictionRequest,
    backend_class,
    call_policy,
    get_backend,
)
from ..conf import app_settings
from ..exceptions import (
    BadResponse,
    EndpointAuthError,
    EndpointError,
    EndpointMisconfigured,
    EndpointModelError,
    EndpointNotFound,
    EndpointRejected,
    EndpointThrottled,
    EndpointTimeout,
    EndpointUnavailable,
)
from ..tracking.pseudonyms import pseudonym

# A variant is usable when at least this share of its calls succeed within the page timeouts.
USABLE_SHARE = 0.9
# A p99 above this share of the page's wait (TIMEOUT_SHARE of BUDGET_MS) is worth a warning: some
# page views will fall back.
CLOSE_TO_WAIT = 0.8
# Stands for "no customer in particular": the model answers it with its popularity prior.
SAMPLE_USER = "recommendations-probe"


@dataclass(frozen=True)
class CallOutcome:
    """One timed call: its prediction, or the app's error."""

    latency_ms: float
    prediction: Prediction | None = None
    error: EndpointError | None = None


@dataclass
class VariantHealth:
    """What the probe learnt about one variant (None: the endpoint's default routing)."""

    variant: str | None
    outcomes: list[CallOutcome] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # problems, in plain words
    notes: list[str] = field(default_factory=list)  # worth knowing, not a problem

    @property
    def label(self) -> str:
        """The variant's name, or "default" when SageMaker routes."""
        return self.variant or "default"

    @property
    def successes(self) -> list[CallOutcome]:
        return [outcome for outcome in self.outcomes if outcome.error is None]

    @property
    def failures(self) -> list[CallOutcome]:
        return [outcome for outcome in self.outcomes if outcome.error is not None]

    @property
    def usable(self) -> bool:
        """Enough calls succeeded within the page timeouts for pages to rely on the endpoint."""
        return bool(self.outcomes) and len(self.successes) >= USABLE_SHARE * len(self.outcomes)

    def latency(self, q: float) -> float:
        """The `q`-th percentile (nearest rank) of the successful calls' latency in ms."""
        latencies = sorted(outcome.latency_ms for outcome in self.successes)
        if not latencies:
            return math.nan
        return latencies[max(0, math.ceil(q / 100 * len(latencies)) - 1)]

    @property
    def model_version(self) -> str | None:
        """The model version of the last successful answer."""
        answers = [o.prediction for o in self.successes if o.prediction is not None]
        return answers[-1].model_version if answers else None

    @property
    def answered_by(self) -> str | None:
        """The production variant SageMaker says answered, if it said."""
        answers = [o.prediction for o in self.successes if o.prediction is not None]
        return answers[-1].variant if answers else None


def configured_variants() -> list[str | None]:
    """TARGET_VARIANT (or the default routing) and SECOND_VARIANT when one is set."""
    variants: list[str | None] = [app_settings.TARGET_VARIANT or None]
    second = app_settings.SECOND_VARIANT or None
    if second and second not in variants:
        variants.append(second)
    return variants


def sample_user_key(user_id: int | None = None) -> str:
    """The pseudonym sent for the probe: this user's, or a sample nobody has."""
    return pseudonym(SAMPLE_USER if user_id is None else user_id)


def page_timeouts() -> str:
    """The page path's budget and timeouts, as the findings quote them."""
    policy = call_policy("page")
    return (
        f"BUDGET_MS {app_settings.BUDGET_MS} ms: connect timeout "
        f"{policy.connect_timeout * 1000:.0f} ms, read timeout {policy.read_timeout * 1000:.0f} ms"
        f", {policy.attempts} attempt(s)"
    )


def _timed_call(
    backend: Backend, request: PredictionRequest, variant: str | None, purpose: str
) -> CallOutcome:
    started = time.perf_counter()
    try:
        prediction = backend.recommend(request, purpose=purpose, target_variant=variant)
    except EndpointError as error:
        return CallOutcome((time.perf_counter() - started) * 1000, error=error)
    return CallOutcome((time.perf_counter() - started) * 1000, prediction=prediction)


def probe_variant(variant: str | None, user_key: str, requests: int) -> VariantHealth:
    """Call `variant` `requests` times with the page's timeouts; diagnose what fails."""
    health = VariantHealth(variant)
    try:
        backend = get_backend()
        # Make the client now, so that the first call's latency is the endpoint's, not boto3's.
        backend.warm_up("page")
    except EndpointError as error:
        health.findings.append(explain(error))
        return health
    request = PredictionRequest(user_key=user_key, num_results=int(app_settings.NUM_ITEMS))
    first = _timed_call(backend, request, variant, "page")
    health.outcomes.append(first)
    if first.error is not None:
        # The same error would repeat N times; one clear finding is worth more.
        health.findings.extend(_diagnose_first_failure(backend, request, variant, first.error))
        return health
    for _ in range(max(0, requests - 1)):
        health.outcomes.append(_timed_call(backend, request, variant, "page"))
    health.findings.extend(_findings_of_a_working_endpoint(health))
    answers = [o.prediction for o in health.successes if o.prediction is not None]
    if answers and answers[-1].item_ids and answers[-1].prior:
        health.notes.append(
            "The sample user is unknown to the model, which answered with its popularity prior "
            "(pass --user-id of a customer in the training data to see a personal answer)."
        )
    return health


def _diagnose_first_failure(
    backend: Backend, request: PredictionRequest, variant: str | None, error: EndpointError
) -> list[str]:
    if not isinstance(error, EndpointTimeout):
        return [explain(error)]
    # Slow or dead? Ask once more with the Celery tasks' long timeouts.
    try:
        backend.warm_up("task")
    except EndpointError:
        return [explain(error)]
    slow = _timed_call(backend, request, variant, "task")
    task_read = call_policy("task").read_timeout
    if slow.error is None:
        return [
            f"Calls time out with the page's timeouts ({page_timeouts()}), but the endpoint "
            f"answers with a longer timeout in {slow.latency_ms:.0f} ms: it is slower than the "
            f"budget of {app_settings.BUDGET_MS} ms, so every page view falls back. Make the "
            "endpoint faster (instance type, model size, autoscaling) or raise BUDGET_MS; the "
            "prefetch tasks, which wait longer, can still fill the cache."
        ]
    if isinstance(slow.error, EndpointTimeout):
        return [
            f"No answer within the page's timeouts ({page_timeouts()}), nor within the tasks' "
            f"read timeout of {task_read:.0f} s: the endpoint hangs, or something on the way "
            "(proxy, firewall, VPC endpoint) swallows the requests."
        ]
    return [
        f"Calls time out with the page's timeouts ({page_timeouts()}); with longer timeouts "
        f"they fail differently: {explain(slow.error)}"
    ]


def _findings_of_a_working_endpoint(health: VariantHealth) -> list[str]:
    findings = []
    if health.failures:
        kinds = Counter(type(o.error).__name__ for o in health.failures)
        first = health.failures[0].error
        assert first is not None
        findings.append(
            f"{len(health.failures)} of {len(health.outcomes)} calls failed "
            f"({', '.join(f'{n} {kind}' for kind, n in kinds.most_common())}). "
            f"First failure: {explain(first)}"
        )
    p99 = health.latency(99)
    page_wait_ms = float(app_settings.BUDGET_MS) * TIMEOUT_SHARE
    if not math.isnan(p99) and p99 > CLOSE_TO_WAIT * page_wait_ms:
        findings.append(
            f"p99 latency {p99:.0f} ms is close to the budget ({page_timeouts()}): some page "
            "views will fall back. Consider a faster endpoint or a larger BUDGET_MS."
        )
    answers = [o.prediction for o in health.successes if o.prediction is not None]
    if answers and not answers[-1].item_ids:
        findings.append(
            "The endpoint answered with no items: the widget will show only the fallback ranking."
        )
    return findings


def explain(error: EndpointError) -> str:
    """What this error usually means, and what to do about it, in plain words: the backend's own
    (`Backend.health_hint`), else the general ones below."""
    try:
        backend = backend_class()
    except EndpointMisconfigured:
        backend = Backend
    hint = backend.health_hint(error)
    if hint:
        return hint
    name = str(app_settings.ENDPOINT_NAME or "")
    where = backend.location() or "at the endpoint"
    detail = f" ({error.error_code}: {error.detail})" if error.detail else ""
    if isinstance(error, EndpointAuthError):
        if error.reason == "no_credentials":
            return (
                "No AWS credentials found. boto3 looks for AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, then AWS_PROFILE or ~/.aws/credentials, then the instance "
                "or task role: give the web and worker processes one of them."
            )
        return (
            f"AWS refused the credentials{detail}: the access key is unknown, the secret does "
            "not match it, it has expired, or it is not allowed sagemaker:InvokeEndpoint on "
            f"endpoint {name!r}. Check the key pair and the IAM policy."
        )
    if isinstance(error, EndpointNotFound) and "target variant" in error.detail.lower():
        return (
            f"The endpoint does not have the production variant asked for{detail}. Check "
            "TARGET_VARIANT and SECOND_VARIANT against the endpoint's configuration."
        )
    if isinstance(error, EndpointNotFound):
        variant = (
            " (or the TARGET_VARIANT/SECOND_VARIANT)" if "variant" in error.detail.lower() else ""
        )
        return (
            f"No endpoint named {name!r}{variant} {where}{detail}. Check "
            "RECOMMENDATIONS['ENDPOINT_NAME'] and the region (RECOMMENDATIONS['REGION'] or "
            "AWS_DEFAULT_REGION): an endpoint lives in one region only."
        )
    if isinstance(error, EndpointMisconfigured):
        return (
            f"The settings do not allow a call: {error}. Fix the setting and run the probe again."
        )
    if isinstance(error, EndpointTimeout):
        return f"No answer within the page's timeouts ({page_timeouts()}){detail}."
    if isinstance(error, EndpointThrottled):
        return (
            f"The endpoint is throttling the calls{detail}: the account's or endpoint's rate "
            "limit is reached. Add instances or autoscaling, or prefetch in smaller batches."
        )
    if isinstance(error, EndpointModelError):
        return (
            f"The model container failed on the request{detail}. Check its logs in CloudWatch; "
            f"the request format (CODEC {app_settings.CODEC!r}) may not be what it expects."
        )
    if isinstance(error, BadResponse):
        return (
            f"The endpoint answered, but not in the format CODEC {app_settings.CODEC!r} "
            f"expects{detail}."
        )
    if isinstance(error, EndpointRejected):
        if "variant" in error.detail.lower():
            return (
                f"The endpoint does not have the production variant asked for{detail}. Check "
                "TARGET_VARIANT and SECOND_VARIANT against the endpoint's configuration."
            )
        return (
            f"The endpoint rejected the request as invalid{detail}. Check CODEC, "
            "CUSTOM_ATTRIBUTES and TARGET_VARIANT."
        )
    if isinstance(error, EndpointUnavailable):
        if error.reason == "connection":
            return (
                f"Could not connect {where}{detail}: nothing answered. Check the backend's URL "
                "setting and the network path."
            )
        return (
            f"The endpoint answered with a server error{detail}. Is it InService? Check its "
            "status and logs in the SageMaker console."
        )
    return f"The call failed: {error}."
