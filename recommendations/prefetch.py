"""Prefetching: ask the endpoint ahead of time, in batches, and keep the answers in the cache."""

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from . import arms, metrics, model_versions, prefetched
from .backends.base import PredictionRequest, get_backend
from .catalog import get_catalog
from .conf import app_settings
from .exceptions import EndpointError
from .pseudonyms import pseudonym

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


def batches(items: Sequence[int], size: int) -> Iterator[list[int]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def prefetch_users(user_ids: Sequence[int], batch_size: int | None = None) -> PrefetchResult:
    """Prefetch these users, one invoke_endpoint per batch; raises PrefetchInterrupted on failure.

    Each user is asked for in their arm (see `arms.py`): holdout users are skipped, users of the
    second variant's arm go in batches of their own that target that variant.
    """
    user_ids = list(dict.fromkeys(int(u) for u in user_ids))  # dedupe, keep order
    batch_size = int(batch_size or app_settings.BATCH_SIZE)
    catalog = get_catalog()
    backend = get_backend()
    num_results = int(app_settings.NUM_ITEMS) * OVERFETCH
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
        for batch in batches(users, batch_size):
            try:
                predictions = _ask(backend, catalog, batch, num_results, target_variant)
            except Exception as error:
                finished = set(done)
                remaining = [user_id for user_id in user_ids if user_id not in finished]
                raise PrefetchInterrupted(list(done), remaining, error) from error
            result.invocations += 1
            for user_id, prediction in zip(batch, predictions, strict=True):
                prefetched.write_entry(
                    user_id,
                    prediction.item_ids,
                    prediction.model_version,
                    prediction.variant,
                    target_variant=target_variant,
                )
                if prediction.model_version:
                    result.model_versions.add(prediction.model_version)
            for version in {p.model_version for p in predictions}:
                model_versions.note_version(version, target_variant)
            done.extend(batch)
            result.users += len(batch)
    return result


def _ask(
    backend: Any,
    catalog: Any,
    batch: list[int],
    num_results: int,
    target_variant: str | None,
) -> list[Any]:
    """One invoke_endpoint for the users of `batch`, excluding what each already bought."""
    bought = catalog.purchased_item_ids_for(batch)
    requests = [
        PredictionRequest(
            user_key=pseudonym(user_id),
            num_results=num_results,
            exclude=tuple(sorted(bought.get(user_id, ()))),
        )
        for user_id in batch
    ]
    started = time.monotonic()
    try:
        predictions = backend.recommend_many(
            requests, purpose="task", target_variant=target_variant
        )
    except EndpointError as error:
        metrics.record_endpoint_call("task", error.reason, time.monotonic() - started)
        raise
    metrics.record_endpoint_call("task", "ok", time.monotonic() - started)
    return predictions


def active_user_ids(days: int | None = None) -> list[int]:
    """Users the catalog adapter calls active in the last `days` days (ACTIVE_DAYS by default)."""
    days = int(days if days is not None else app_settings.ACTIVE_DAYS)
    return get_catalog().active_user_ids(timezone.now() - timedelta(days=days))
