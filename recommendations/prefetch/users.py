"""Prefetching: ask the endpoint ahead of time, in batches, and keep the answers in the cache.

Every call goes through the same circuit breaker as the pages' (per endpoint and variant, shared
through the cache): while it is open no call is made and `PrefetchInterrupted` carries a
`BreakerOpen` error, so the task waits for the cool-down; each call's outcome is recorded in it.
When the endpoint refuses one request's input (`caused_by_request`), the batch is split in halves
until that user stands alone and is skipped: the others are served and nothing counts against
the breaker. With no endpoint at all (`BACKEND = "none"`) nothing is asked: the users are left
to the fallback ranking, and the breaker is not consulted.

The Celery tasks skip a user whose entry still has more than half of its freshness left and was
made by the newest model version (one cache read of the batch's keys): a pass redelivered, or
beat's next pass right behind a long one, does not ask for those users again.
"""

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ..backends.base import PredictionRequest, endpoint_configured, get_backend
from ..backends.breaker import CircuitBreaker, breaker_for
from ..cache.access import get_cache
from ..catalog import get_catalog
from ..conf import app_settings
from ..exceptions import BreakerOpen, EndpointError
from ..ops import metrics
from ..serving import exclusions
from ..tracking import arms
from ..tracking.pseudonyms import pseudonym
from . import entries, model_versions

logger = logging.getLogger(__name__)

# Prefetched lists hold more than a widget shows, so that filtering at page time still leaves enough.
OVERFETCH = 2


class PrefetchInterrupted(Exception):
    """A batch failed; `done` users were prefetched, `remaining` were not (the task retries them)."""

    def __init__(self, done: list[int], remaining: list[int], error: BaseException) -> None:
        super().__init__(f"prefetch stopped after {len(done)} users: {type(error).__name__}")
        self.done = done
        self.remaining = remaining
        self.error = error


@dataclass
class PrefetchResult:
    users: int = 0
    invocations: int = 0
    model_versions: set[str] = field(default_factory=set)
    held_out: int = 0  # users of the holdout arm: never sent to the model
    fresh: int = 0  # users whose entry was still fresh (skip_fresh): not asked for again
    skipped: int = 0  # users whose own request the endpoint refused (not retried)


def batches(items: Sequence[int], size: int) -> Iterator[list[int]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def prefetch_users(
    user_ids: Sequence[int], batch_size: int | None = None, skip_fresh: bool = False
) -> PrefetchResult:
    """Prefetch these users, one invoke_endpoint per batch; raises PrefetchInterrupted on failure.

    Each user is asked for in their arm (see `tracking/arms.py`): holdout users are skipped, users of the
    second variant's arm go in batches of their own that target that variant. With `skip_fresh`,
    so are users whose entry is still fresh (see `still_fresh`). With no endpoint (`BACKEND =
    "none"`) nothing is done: an empty result.
    """
    if not endpoint_configured():
        return PrefetchResult()
    user_ids = list(dict.fromkeys(int(u) for u in user_ids))  # dedupe, keep order
    batch_size = int(batch_size or app_settings.BATCH_SIZE)
    catalog = get_catalog()
    backend = get_backend()
    result = PrefetchResult()
    done: list[int] = []
    by_variant: dict[str | None, list[int]] = {}
    for user_id in user_ids:
        arm = arms.arm_for(pseudonym(user_id))
        if not arm.sees_model:
            done.append(user_id)  # nothing to do for a held-out user: done, not retried
            result.held_out += 1
            continue
        by_variant.setdefault(arm.target_variant, []).append(user_id)
    for target_variant, users in by_variant.items():
        if skip_fresh:
            users = _without_fresh(users, target_variant, batch_size, result, done)
        batch_call = _BatchCall(backend, catalog, breaker_for(target_variant), target_variant)
        for batch in batches(users, batch_size):
            try:
                batch_call.serve(batch, result, done)
            except Exception as error:
                finished = set(done)
                remaining = [user_id for user_id in user_ids if user_id not in finished]
                raise PrefetchInterrupted(list(done), remaining, error) from error
    return result


def still_fresh(
    entry: entries.PrefetchedEntry | None,
    user_id: int,
    target_variant: str | None,
    now: float,
) -> bool:
    """Whether prefetching may leave this entry alone: fresh for more than half of FRESH_TTL yet,
    and not due for a refresh by a newer model version."""
    # Renewed once half its freshness is gone, so that beat's passes keep entries fresh at any
    # interval under FRESH_TTL; an entry written since the last pass is left alone.
    if entry is None or entry.fresh_until - now <= float(app_settings.FRESH_TTL) / 2:
        return False
    return not model_versions.is_outdated(entry, user_id, target_variant, now)


def _without_fresh(
    users: list[int],
    target_variant: str | None,
    batch_size: int,
    result: PrefetchResult,
    done: list[int],
) -> list[int]:
    """`users` without those whose entry is still fresh, read one batch of keys at a time."""
    now = time.time()
    cache = get_cache()
    remaining: list[int] = []
    skipped = 0
    for batch in batches(users, batch_size):
        keys = {user_id: entries.user_key(user_id, target_variant) for user_id in batch}
        values = cache.get_many(keys.values())  # a cache that is down: everybody is asked for
        for user_id in batch:
            entry = entries.entry_from(values.get(keys[user_id]))
            if still_fresh(entry, user_id, target_variant, now):
                done.append(user_id)  # done, not retried
                skipped += 1
            else:
                remaining.append(user_id)
    if skipped:
        result.fresh += skipped
        metrics.count_shared(metrics.FRESH_SKIPPED_KEY, skipped)
    return remaining


class _BatchCall:
    """Asks the endpoint for batches of one variant's users, through that variant's breaker."""

    def __init__(
        self,
        backend: Any,
        catalog: Any,
        breaker: CircuitBreaker,
        target_variant: str | None,
    ) -> None:
        self.backend = backend
        self.catalog = catalog
        self.breaker = breaker
        self.target_variant = target_variant
        self.num_results = int(app_settings.NUM_ITEMS) * OVERFETCH

    def serve(self, batch: list[int], result: PrefetchResult, done: list[int]) -> None:
        """Prefetch `batch`, appending to `done` as users are written or skipped."""
        # What each user may not be shown: the entries carry it to the pages that read them.
        hidden = self.catalog.hidden_items_for(batch)
        pending = [batch]
        served = refused = 0
        while pending:
            users = pending.pop(0)
            try:
                predictions = self._ask(users, hidden)
            except EndpointError as error:
                if not error.caused_by_request:
                    raise
                if len(users) > 1:
                    # Halves first, in order: the culprit is found in about 2 log2(n) calls.
                    middle = len(users) // 2
                    pending[:0] = [users[:middle], users[middle:]]
                    continue
                if refused and not served:
                    # A second lone user refused and nobody served: the endpoint refuses every
                    # request (a setting it rejects), so asking each user alone would not help.
                    raise
                refused += 1
                self._skip(users[0], error, result, done)
                continue
            served += len(users)
            result.invocations += 1
            entries.write_entries(
                (
                    (
                        user_id,
                        prediction.item_ids,
                        prediction.model_version,
                        prediction.variant,
                        prediction.prior,
                    )
                    for user_id, prediction in zip(users, predictions, strict=True)
                ),
                target_variant=self.target_variant,
                hidden=hidden,
            )
            result.model_versions.update(p.model_version for p in predictions if p.model_version)
            for version in {p.model_version for p in predictions}:
                model_versions.note_version(version, self.target_variant)
            done.extend(users)
            result.users += len(users)

    def _ask(self, users: list[int], hidden: dict[int, Any]) -> list[Any]:
        """One invoke_endpoint for `users`, if the breaker allows; its outcome is recorded in it."""
        # The requests first: a probe the breaker grants must be answered by this call's outcome.
        requests = [
            PredictionRequest(
                user_key=pseudonym(user_id),
                num_results=self.num_results,
                exclude=exclusions.exclude_for(self.catalog, user_id, hidden.get(user_id, {})),
            )
            for user_id in users
        ]
        if not self.breaker.allow():
            # Refused while half-open (another caller holds the probe): its answer will be known
            # well within another cool-down.
            retry_after = self.breaker.seconds_until_probe() or float(app_settings.BREAKER_COOLDOWN)
            raise BreakerOpen(endpoint=self.breaker.name, retry_after=retry_after)
        started = time.monotonic()
        try:
            predictions = self.backend.recommend_many(
                requests, purpose="task", target_variant=self.target_variant
            )
        except EndpointError as error:
            self.breaker.record_failure(error)
            metrics.record_endpoint_call("task", error.reason, time.monotonic() - started)
            raise
        self.breaker.record_success()
        metrics.record_endpoint_call("task", "ok", time.monotonic() - started)
        return predictions

    def _skip(
        self, user_id: int, error: EndpointError, result: PrefetchResult, done: list[int]
    ) -> None:
        # Done, not retried: the same input would be refused again. The user's pages fall back.
        result.skipped += 1
        done.append(user_id)
        logger.warning(
            "Endpoint %s refused one user's request (%s); that user is skipped, the batch served",
            self.breaker.name,
            error.reason,
            extra={
                "endpoint": self.breaker.name,
                "reason": error.reason,
                "error_class": type(error).__name__,
                "status_code": getattr(error, "original_status_code", None) or error.status_code,
            },
        )


def active_user_ids(days: int | None = None) -> list[int]:
    """Users the catalog adapter calls active in the last `days` days (ACTIVE_DAYS by default)."""
    days = int(days if days is not None else app_settings.ACTIVE_DAYS)
    return get_catalog().active_user_ids(timezone.now() - timedelta(days=days))
