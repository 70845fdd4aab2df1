"""manage.py recommendations_check: is the endpoint usable by page views right now, and if not, why.

Exits non-zero when a configured variant is not usable, so a deploy pipeline can run it.
"""

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommendations import health
from recommendations.backends.base import get_backend
from recommendations.breaker import get_breaker
from recommendations.conf import app_settings
from recommendations.exceptions import EndpointError

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
            help="also log the outcome (ERROR when unusable, WARNING when degraded) for "
            "log-based alerting",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        requests = options["requests"]
        if requests < 1:
            raise CommandError("--requests must be at least 1.")
        user_key = health.sample_user_key(options["user_id"])
        self._describe_setup(options["user_id"], user_key)

        results = [
            health.check_variant(variant, user_key, requests)
            for variant in health.configured_variants()
        ]
        for result in results:
            self._report(result)

        unusable = [result for result in results if not result.usable]
        if options["alert"]:
            self._alert(results, unusable)
        if unusable:
            labels = ", ".join(result.label for result in unusable)
            raise CommandError(f"The endpoint is not usable by page views (variant: {labels}).")
        self.stdout.write(self.style.SUCCESS("The endpoint is usable by page views."))

    def _describe_setup(self, user_id: int | None, user_key: str) -> None:
        try:
            label = get_backend().endpoint_label
        except EndpointError:
            label = str(app_settings.ENDPOINT_NAME or "")
        breaker = get_breaker(app_settings.ENDPOINT_NAME or "endpoint")
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Endpoint {label!r} ({app_settings.BACKEND} backend, region "
                f"{app_settings.REGION or 'default'})"
            )
        )
        self.stdout.write(f"  page timeouts: {health.page_timeouts()}")
        self.stdout.write(f"  circuit breaker: {breaker.state} (the check calls past it)")
        who = f"user {user_id}" if user_id is not None else "a sample user"
        # A pseudonym is what leaves the premises anyway; its head is enough to recognise it.
        self.stdout.write(f"  asking for {who}, pseudonym {user_key[:8]}…")

    def _report(self, result: health.VariantHealth) -> None:
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

    def _alert(self, results: list[health.VariantHealth], unusable: list) -> None:
        # Thresholds on live metrics (fallback share, latency) come with the metrics themselves;
        # until then --alert turns the check's own outcome into a log line alerting can match.
        degraded = [r for r in results if r.usable and (r.failures or r.findings)]
        extra = {
            "endpoint": app_settings.ENDPOINT_NAME,
            "unusable": [r.label for r in unusable],
            "degraded": [r.label for r in degraded],
        }
        if unusable:
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
