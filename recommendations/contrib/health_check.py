"""A django-health-check check for shops that already run django-health-check.

    pip install "django-hybrid-recommendations[health-check]"

    # urls.py
    from health_check.views import HealthCheckView

    path("health/", HealthCheckView.as_view(checks=[
        "health_check.checks.Database",
        "recommendations.contrib.health_check.RecommendationsEndpoint",
    ]))

It is `manage.py recommendations_probe` in a check: a few calls per configured variant with the
page's timeouts, past the circuit breaker (`ops/probe.py`). A variant pages cannot use is
`ServiceUnavailable`; a usable one with findings (failed calls, a p99 close to the budget) is
`ServiceWarning`. The messages are the probe's plain-words findings, which name no credential.

django-health-check answers 500 to either. Pages keep working from the fallback ranking while the
endpoint is down, so mount this on a monitoring URL, not on the load balancer's health check.
"""

import dataclasses
import datetime

try:
    from health_check.base import HealthCheck
    from health_check.exceptions import ServiceUnavailable, ServiceWarning
except ImportError as err:  # pragma: no cover - the message is the point
    raise ImportError(
        "recommendations.contrib.health_check needs django-health-check: "
        'pip install "django-hybrid-recommendations[health-check]"'
    ) from err

from ..ops import probe


@dataclasses.dataclass
class RecommendationsEndpoint(HealthCheck):
    """Is the recommendations endpoint usable by page views right now?"""

    requests: int = 3  # calls per configured variant
    # The probe's calls use the page's timeouts (BUDGET_MS); a few of them fit in the check's own.
    timeout = datetime.timedelta(seconds=10)

    def run(self) -> None:
        """Probe each configured variant; raise what pages would suffer."""
        user_key = probe.sample_user_key()
        results = [
            probe.probe_variant(variant, user_key, max(1, self.requests))
            for variant in probe.configured_variants()
        ]
        unusable = [result for result in results if not result.usable]
        if unusable:
            raise ServiceUnavailable(_summary(unusable))
        degraded = [result for result in results if result.findings]
        if degraded:
            raise ServiceWarning(_summary(degraded))


def _summary(results: list[probe.VariantHealth]) -> str:
    return "; ".join(
        f"variant {result.label}: {len(result.successes)}/{len(result.outcomes)} calls "
        f"succeeded. {' '.join(result.findings)}".strip()
        for result in results
    )
