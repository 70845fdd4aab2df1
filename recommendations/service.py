"""Where an answer comes from: the one place that decides between cache, endpoint and fallback.

0. the user's arm (see `tracking/arms.py`): the control arm gets nothing (no widget) and the holdout the
   fallback, both at once with no cache or endpoint work; the second variant's arm asks (and
   caches answers of) that production variant
1. no endpoint at all (`BACKEND = "none"`, backends/none.py): the arms that would ask the model get
   the fallback too, reason "no_endpoint", with no cache read, endpoint call or breaker
2. the user's prefetched entry in the cache (fresh: use it; stale: use it and refresh it once)
3. on a miss, the endpoint inline, only if the breaker allows and within what is left of the budget
4. what may be shown: every candidate, the model's and the fallback's, passes
   `serving/visibility.py` once, here (`_assemble`), with the time of the page
5. too few items: the fallback's rankers in order (`fallback/rankers.py`, FALLBACK_RANKERS)
6. dedupe, drop unavailable products, load the products in one query
"""

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.http import HttpRequest

from .backends.base import (
    TIMEOUT_SHARE,
    Prediction,
    PredictionRequest,
    endpoint_configured,
    get_backend,
)
from .backends.breaker import breaker_for
from .catalog import CatalogAdapter, get_catalog
from .conf import app_settings
from .exceptions import EndpointError
from .fallback import rankers
from .ops import metrics
from .prefetch import entries, model_versions
from .prefetch.refresh_queue import enqueue_refresh
from .serving import exclusions, inline_calls, product_snapshot, visibility

# The answer types live below the service (rendering and tracking read them); importable from here too.
from .serving.answers import ModelAnswered, Recommendations, RecommendedItem
from .serving.page_clock import page_started
from .tracking import arms
from .tracking.pseudonyms import pseudonym

logger = logging.getLogger(__name__)

# Below this many milliseconds of budget left an inline endpoint call could not finish anyway.
MIN_INLINE_MS = 10
# Ask the model for more than the widget shows, so that filtering still leaves enough.
OVERFETCH = 2
# The source of the control arm's empty answer: it sees no widget (tracking/arms.py).
NO_WIDGET = "none"
# The fallback reason of every model-arm page while BACKEND is "none" (backends/none.py).
NO_ENDPOINT = "no_endpoint"


@dataclass
class _ModelAnswer:
    item_ids: tuple[str, ...] = ()
    model_version: str | None = None
    reason: str | None = None
    inline: bool = False  # fresh from the endpoint on this request (not from the cache)
    variant: str | None = None  # the production variant that answered
    catalog_version: int | None = None  # read with the entry: the products snapshot to use
    prior: bool = False  # the model did not know the user: it answered with its popularity prior
    # What the user may not be shown (serving/visibility.py), as far as it was read with the
    # answer: None when not read yet; `hidden_complete` when it is all of it.
    hidden: visibility.Hidden | None = None
    hidden_complete: bool = False


def _user_of(request_or_user: Any) -> Any:
    if isinstance(request_or_user, HttpRequest):
        return getattr(request_or_user, "user", None)
    return request_or_user


def recommend(
    request_or_user: Any, limit: int | None = None, context: Mapping[str, Any] | None = None
) -> Recommendations:
    """Recommendations for the current user (or a user object) within the latency budget.

    The budget counts from the start of the page's request when it is known (serving/page_clock.py).
    """
    started = page_started(request_or_user, default=time.monotonic())
    limit = int(limit or app_settings.NUM_ITEMS)
    user = _user_of(request_or_user)
    user_id = user.pk if user is not None and user.is_authenticated else None
    catalog = get_catalog()

    if user_id is None:
        arm = arms.ANONYMOUS_ARM
        answer = _ModelAnswer(reason="anonymous")
    else:
        arm = arms.arm_for(pseudonym(user_id))
        if arm is arms.CONTROL_ARM:
            # No widget at all: no cache, endpoint or fallback work, nothing to show.
            return Recommendations(
                items=[],
                source=NO_WIDGET,
                model_version=None,
                request_id=uuid.uuid4().hex,
                fallback_reason=arms.CONTROL,
                arm=arm.name,
            )
        if arm.sees_model and not endpoint_configured():
            # No endpoint yet: the fallback alone, and nothing counted as a failure.
            answer = _ModelAnswer(reason=NO_ENDPOINT)
        elif arm.sees_model:
            answer = _model_answer(user, limit, context or {}, started, arm)
        else:
            # The holdout measures the shop without the model: not even its cached answers.
            answer = _ModelAnswer(reason="holdout")

    items, checked, dropped = _assemble(catalog, user_id, answer, limit)
    from_model = sum(1 for item in items if item.source == "model")
    if items and from_model == len(items):
        source = "model"
    elif from_model:
        source = "mixed"
    else:
        source = "fallback"
    reason = answer.reason
    if reason is None and source != "model":
        # The model offered items that may be shown, and none of them is available.
        reason = "unknown_items" if checked and not from_model else "too_few_items"
        if answer.inline:
            # Logged for inline answers only: a cached short list would log on every page view.
            logger.warning(
                "Endpoint %s answered %d items of which %d can be shown (%s); padded from the fallback",
                app_settings.ENDPOINT_NAME,
                len(answer.item_ids),
                from_model,
                reason,
                extra={
                    "endpoint": app_settings.ENDPOINT_NAME,
                    "reason": reason,
                    "error_class": None,
                    "answered": len(answer.item_ids),
                    "usable": from_model,
                },
            )
    metrics.record_render(source, reason)
    return Recommendations(
        items=items,
        source=source,
        model_version=answer.model_version if from_model else None,
        request_id=uuid.uuid4().hex,
        fallback_reason=reason,
        timings={"total_ms": (time.monotonic() - started) * 1000},
        arm=arm.name,
        variant=answer.variant if from_model else None,
        # The model answered unless a reason says why not (holdout, anonymous, an endpoint error).
        answered=None
        if answer.reason
        else ModelAnswered(answer.model_version, answer.variant, answer.prior, checked, dropped),
    )


def _model_answer(
    user: Any, limit: int, context: Mapping[str, Any], started: float, arm: arms.Arm
) -> _ModelAnswer:
    # The one cache read: the entry, and the catalog version that tells which products this
    # process may show without a query (serving/product_snapshot.py).
    entry, others = entries.read_entry_with(
        user.pk, arm.target_variant, product_snapshot.VERSION_KEY
    )
    if entry is not None:
        fresh = entry.is_fresh()
        metrics.record_lookup("fresh" if fresh else "stale")
        # An entry of an older model is shown, and refreshed once its spread-out turn comes.
        if not fresh or model_versions.is_outdated(entry, user.pk, arm.target_variant):
            enqueue_refresh(user.pk)
        return _ModelAnswer(
            entry.item_ids,
            entry.model_version,
            variant=entry.variant,
            prior=entry.prior,
            catalog_version=product_snapshot.version_for_page(
                others.get(product_snapshot.VERSION_KEY)
            ),
            hidden=entry.hidden,
        )
    metrics.record_lookup("miss")

    # A miss: ask the endpoint inline if the breaker and the budget allow, and prefetch either way.
    endpoint_name = app_settings.ENDPOINT_NAME or "endpoint"
    # Keyed by endpoint and variant: a broken experiment variant must not stop the others' calls.
    breaker = breaker_for(arm.target_variant)
    allowed = breaker.allow()
    metrics.record_breaker(breaker.name, "closed" if allowed else "open")
    if not allowed:
        # No refresh either: a worker would meet the same dead endpoint. Beat's prefetch and the
        # next miss after the breaker closes fill the entry.
        return _ModelAnswer(reason="breaker_open")
    # The wait ends TIMEOUT_SHARE of the budget after the page started; the rest of the budget
    # is headroom for a thread that wakes late and for the fallback.
    wait_ms = app_settings.BUDGET_MS * TIMEOUT_SHARE - (time.monotonic() - started) * 1000
    if wait_ms < MIN_INLINE_MS:
        enqueue_refresh(user.pk)
        return _ModelAnswer(reason="budget_exhausted")

    try:
        backend = get_backend()
    except EndpointError as error:
        return _endpoint_failed(error, breaker=None, started=time.monotonic())
    if not backend.is_warm("page"):
        # Building a boto3 client takes longer than a page can spare (docs/page-view.md). The first
        # page in a process builds it in the background and is served from the cache or fallback.
        backend.warm_up_in_background("page")
        enqueue_refresh(user.pk)
        return _ModelAnswer(reason="client_warming")

    catalog = get_catalog()
    hidden = catalog.hidden_items(user.pk)
    request = PredictionRequest(
        user_key=pseudonym(user.pk),
        num_results=limit * OVERFETCH,
        # An optimisation: the model's slots go to items that may be shown (the rule: _assemble).
        exclude=exclusions.exclude_for(catalog, user.pk, hidden),
        context=dict(context),
    )
    call_started = time.monotonic()

    def keep(answer: Prediction) -> None:
        """Store the answer for this and the user's next page views (also when it comes late)."""
        metrics.record_endpoint_call("page", "ok", time.monotonic() - call_started)
        entries.write_entry(
            user.pk,
            answer.item_ids,
            answer.model_version,
            answer.variant,
            target_variant=arm.target_variant,
            prior=answer.prior,
            hidden=hidden,
        )
        model_versions.note_version(answer.model_version, arm.target_variant)

    try:
        prediction = inline_calls.call_within(
            lambda: backend.recommend(request, purpose="page", target_variant=arm.target_variant),
            wait_ms / 1000,
            endpoint=endpoint_name,
            late=keep,
        )
    except inline_calls.InlineCallsBusy:
        # Every inline thread waits on the endpoint already: no page queues behind them.
        enqueue_refresh(user.pk)
        return _ModelAnswer(reason="inline_calls_busy")
    except EndpointError as error:
        return _endpoint_failed(error, breaker=breaker, started=call_started)
    breaker.record_success()
    keep(prediction)
    return _ModelAnswer(
        prediction.item_ids,
        prediction.model_version,
        inline=True,
        variant=prediction.variant,
        prior=prediction.prior,
        hidden=hidden,
        hidden_complete=True,
    )


def _endpoint_failed(error: EndpointError, breaker: Any, started: float) -> _ModelAnswer:
    """Count the failure for the breaker and log it once; the page goes on with the fallback."""
    if breaker is not None:
        breaker.record_failure(error)
        metrics.record_endpoint_call("page", error.reason, time.monotonic() - started)
    logger.warning(
        "Endpoint %s failed with %s (%s); serving the fallback ranking",
        app_settings.ENDPOINT_NAME,
        type(error).__name__,
        error.reason,
        extra={
            "endpoint": app_settings.ENDPOINT_NAME,
            "reason": error.reason,
            "error_class": type(error).__name__,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
    return _ModelAnswer(reason=error.reason)


def _candidates(
    user_id: int | None, model_ids: tuple[str, ...], wanted: int
) -> Iterator[tuple[str, str]]:
    """(item id, source): the model's items, then each fallback ranker's, asked only once the
    ones before are used up; each id once."""
    seen: set[str] = set()
    for item_id in model_ids:
        if item_id not in seen:
            seen.add(item_id)
            yield item_id, "model"
    for ranker in rankers.rankers():
        for item_id in ranker.rank(user_id, wanted, exclude=set(seen)):
            if item_id not in seen:
                seen.add(item_id)
                yield item_id, "fallback"


def _assemble(
    catalog: CatalogAdapter, user_id: int | None, answer: _ModelAnswer, limit: int
) -> tuple[list[RecommendedItem], int, int]:
    """Model items first, padded from the fallback's rankers; what may be shown and available
    only, the products in one query (none when the process's snapshot of this catalog version
    knows them all).

    With the items: how many of the model's items the availability filter looked at, and how
    many of those it dropped (stale: the model recommends what the shop no longer offers)."""
    # What may be shown: decided here, once, for every candidate (serving/visibility.py).
    complete = None
    if user_id is None:
        hidden: dict[str, float | None] = {}
    elif answer.hidden is None:
        hidden = catalog.hidden_items(user_id)
    else:
        hidden = dict(answer.hidden)
        if not answer.hidden_complete:
            # A cached entry knows the hidden items among its own answer; padding needs the rest.
            def complete() -> visibility.Hidden:
                return catalog.hidden_items(user_id)

    stream = visibility.visible(
        _candidates(user_id, answer.item_ids, limit * OVERFETCH), hidden, time.time(), complete
    )

    # Load only a few more candidates than the widget shows; most are available, and every
    # product loaded costs page time. Load further slices only when filtering left too few.
    products: dict[str, Any] = {}
    chosen: list[tuple[str, str]] = []
    step = limit + max(2, limit // 4)
    checked = dropped = 0
    while len(chosen) < limit:
        candidates = list(islice(stream, step))
        if not candidates:
            break
        products.update(
            product_snapshot.products(
                catalog, [item_id for item_id, _ in candidates], answer.catalog_version
            )
        )
        chosen.extend((item_id, source) for item_id, source in candidates if item_id in products)
        from_model = [item_id for item_id, source in candidates if source == "model"]
        checked += len(from_model)
        dropped += sum(1 for item_id in from_model if item_id not in products)
    chosen = chosen[:limit]

    shown = [products[item_id] for item_id, _ in chosen]
    items = [
        RecommendedItem(
            product=product,
            item_id=item_id,
            position=position,
            source=source,
            **_with_price(catalog, product, described),
        )
        for position, ((item_id, source), product, described) in enumerate(
            zip(chosen, shown, catalog.describe_all(shown), strict=True), start=1
        )
    ]
    return items, checked, dropped


def _with_price(catalog: CatalogAdapter, product: Any, described: dict[str, Any]) -> dict[str, Any]:
    """`described` with the price as shown and its currency, from the adapter's `format_price`
    and `currency` where `describe` did not give them."""
    price = described.get("price")
    extra: dict[str, Any] = {}
    if "price_display" not in described:
        extra["price_display"] = catalog.format_price(product, price)
    if "currency" not in described:
        extra["currency"] = None if price is None else catalog.currency(product)
    return {**described, **extra} if extra else described
