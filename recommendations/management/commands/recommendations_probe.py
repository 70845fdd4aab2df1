"""manage.py recommendations_probe: is the endpoint usable by page views right now, and if not, why.

Exits non-zero when a configured variant is not usable, so a deploy pipeline can run it. With no
endpoint (`BACKEND = "none"`) it says so and exits 0: there is nothing to call, and pages are
meant to be served from the fallback.
"""

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommendations.backends.base import endpoint_configured, get_backend
from recommendations.backends.breaker import breaker_for
from recommendations.conf import app_settings
from recommendations.exceptions import EndpointError
from recommendations.ops import probe
from recommendations.ops.recent_figures import recent_figures

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Call the recommendations endpoint (each configured variant) with a sample user; print "
        "status, latency p50/p99 and model version, and diagnose what is wrong. Exits 1 when "
        "the endpoint is not usable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--requests", type=int, default=20, help="calls per variant (default 20)"
        )
        parser.add_argument(
            "--user-id",
            type=int,
            default=None,
            help="ask for this user (sent as their pseudonym); default: a sample nobody has",
        )
        parser.add_argument(
            "--alert",
            action="store_true",
            help="also judge the last hour: exit 1 when the fallback rate or the endpoint p99 "
            "passes ALERT_FALLBACK_RATE / ALERT_P99_MS; log the outcome for log-based alerting",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        requests = options["requests"]
        if requests < 1:
            raise CommandError("--requests must be at least 1.")
        if not endpoint_configured():
            self.stdout.write(
                self.style.SUCCESS(
                    'No endpoint configured (BACKEND "none"): pages are served from the fallback '
                    "ranking, and nothing is called."
                )
            )
            return
        user_key = probe.sample_user_key(options["user_id"])
        self._describe_setup(options["user_id"], user_key)

        results = [
            probe.probe_variant(variant, user_key, requests)
            for variant in probe.configured_variants()
        ]
        for result in results:
            self._report(result)

        unusable = [result for result in results if not result.usable]
        breaches = self._last_hour() if options["alert"] else []
        if options["alert"]:
            self._alert(results, unusable, breaches)
        if unusable:
            labels = ", ".join(result.label for result in unusable)
            raise CommandError(f"The endpoint is not usable by page views (variant: {labels}).")
        if breaches:
            raise CommandError("Alert: " + "; ".join(breaches) + ".")
        self.stdout.write(self.style.SUCCESS("The endpoint is usable by page views."))

    def _last_hour(self) -> list[str]:
        """Print the last hour's shop-wide figures; the thresholds they pass."""
        figures = recent_figures(3600)
        rate, p99 = figures.fallback_rate, figures.endpoint_p99_ms
        self.stdout.write(self.style.MIGRATE_HEADING("Last hour"))
        rate_text = "unknown (no impressions: is TRACKING on?)" if rate is None else f"{rate:.1%}"
        self.stdout.write(
            f"  fallback rate {rate_text} of {figures.model_arm_renders} model-arm renders "
            f"(alert above {app_settings.ALERT_FALLBACK_RATE:.0%})"
        )
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(figures.fallback_reasons.items()))
        if reasons:
            self.stdout.write(f"  fallback reasons: {reasons}")
        p99_text = "unknown (no endpoint calls)" if p99 is None else f"<= {p99:g} ms"
        self.stdout.write(
            f"  endpoint p99 {p99_text} over {figures.endpoint_calls} calls "
            f"(alert above {app_settings.ALERT_P99_MS} ms)"
        )
        breaches = []
        if rate is not None and rate > float(app_settings.ALERT_FALLBACK_RATE):
            breaches.append(
                f"fallback rate {rate:.1%} over the last hour is above "
                f"{float(app_settings.ALERT_FALLBACK_RATE):.0%}"
            )
        if p99 is not None and p99 > float(app_settings.ALERT_P99_MS):
            breaches.append(
                f"endpoint p99 over the last hour is above {app_settings.ALERT_P99_MS} ms"
            )
        return breaches

    def _describe_setup(self, user_id: int | None, user_key: str) -> None:
        try:
            label = get_backend().endpoint_label
        except EndpointError:
            label = str(app_settings.ENDPOINT_NAME or "")
        breaker = breaker_for()
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Endpoint {label!r} ({app_settings.BACKEND} backend, region "
                f"{app_settings.REGION or 'default'})"
            )
        )
        self.stdout.write(f"  page timeouts: {probe.page_timeouts()}")
        self.stdout.write(f"  circuit breaker: {breaker.state} (the probe calls past it)")
        who = f"user {user_id}" if user_id is not None else "a sample user"
        # A pseudonym is what leaves the premises anyway; its head is enough to recognise it.
        self.stdout.write(f"  asking for {who}, pseudonym {user_key[:8]}…")

    def _report(self, result: probe.VariantHealth) -> None:
        calls = len(result.outcomes)
        ok = len(result.successes)
        if result.usable:
            status = self.style.SUCCESS("OK")
        elif ok:
            status = self.style.WARNING("UNRELIABLE")
        else:
            status = self.style.ERROR("FAILED")
        self.stdout.write(f"Variant {result.label}: {status}  {ok}/{calls} calls succeeded")
        if ok:
            answered = f", answered by {result.answered_by}" if result.answered_by else ""
            self.stdout.write(
                f"  latency p50 {result.latency(50):.1f} ms, p99 {result.latency(99):.1f} ms; "
                f"model version {result.model_version or 'unknown'}{answered}"
            )
        elif result.outcomes:
            error = result.outcomes[0].error
            self.stdout.write(
                f"  {type(error).__name__} ({getattr(error, 'reason', '')}) after "
                f"{result.outcomes[0].latency_ms:.0f} ms"
            )
        style = self.style.ERROR if not result.usable else self.style.WARNING
        for finding in result.findings:
            self.stdout.write(style(f"  - {finding}"))
        for note in result.notes:
            self.stdout.write(f"  - {note}")

    def _alert(
        self, results: list[probe.VariantHealth], unusable: list, breaches: list[str]
    ) -> None:
        # The outcome as one log line too, so log-based alerting can match it.
        degraded = [r for r in results if r.usable and (r.failures or r.findings)]
        extra = {
            "endpoint": app_settings.ENDPOINT_NAME,
            "unusable": [r.label for r in unusable],
            "degraded": [r.label for r in degraded],
            "breaches": breaches,
        }
        if breaches and not unusable:
            logger.error(
                "Recommendations alert for endpoint %s: %s",
                app_settings.ENDPOINT_NAME,
                "; ".join(breaches),
                extra=extra,
            )
        elif unusable:
            logger.error(
                "Recommendations endpoint %s is not usable (variants %s)",
                app_settings.ENDPOINT_NAME,
                ", ".join(r.label for r in unusable),
                extra=extra,
            )
        elif degraded:
            logger.warning(
                "Recommendations endpoint %s is degraded (variants %s)",
                app_settings.ENDPOINT_NAME,
                ", ".join(r.label for r in degraded),
                extra=extra,
            )
        else:
            logger.info(
                "Recommendations endpoint %s is healthy", app_settings.ENDPOINT_NAME, extra=extra
            )
