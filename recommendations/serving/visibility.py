"""What may be shown to a user: the one rule, applied by the service when an answer is read.

The rule is the catalog adapter's `hidden_items(user_id)`: the items this user may not be shown,
each with the time (seconds since the epoch) until which it stays hidden, None for good. The
default hides what the user bought, for good; a shop that also hides what a user viewed in the
last hour overrides that one method (docs/fallback.md, "What may be shown").

`visible()` applies it, once per page, to every candidate whatever its source (the model's
cached or inline answer, each fallback ranker), with the time of the page: an item hidden for an
hour shows again when the hour is over, with no write. A prefetched entry carries the hidden
items among its own answer (`for_storing`), read with the answer in the same cache round trip; a page that pads
a cached answer from the fallback reads the whole rule's input first (one query, on those pages
only), and a page without a cached answer reads it once.

What the model is told (`exclude`, `serving/exclusions.py`) and what the fallback ranking leaves
out (purchases) are optimisations that save their slots: the rule is what `visible()` applies.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

# item id -> hidden until (seconds since the epoch), None for good
Hidden = Mapping[str, float | None]


def hidden_now(hidden: Hidden, now: float | None = None) -> set[str]:
    """The items `hidden` hides at `now`."""
    now = time.time() if now is None else now
    return {item_id for item_id, until in hidden.items() if until is None or until > now}


def visible(
    candidates: Iterable[tuple[str, str]],
    hidden: MutableMapping[str, float | None],
    now: float,
    complete: Callable[[], Hidden] | None = None,
) -> Iterator[tuple[str, str]]:
    """The (item id, source) candidates the user may be shown at `now`, in order.

    `hidden` is the rule's input as far as it is known; `complete`, when given, returns all of
    it, and is called once, when the first candidate that is not the model's comes (a cached
    entry knows only the hidden items among its own answer).
    """
    for item_id, source in candidates:
        if complete is not None and source != "model":
            hidden.update(complete())
            complete = None
        until = hidden.get(item_id, 0.0)
        if until is None or until > now:
            continue
        yield item_id, source


def for_storing(
    item_ids: Iterable[str], hidden: Hidden
) -> tuple[tuple[str, ...], dict[str, float | None]]:
    """An answer as the cache keeps it, and the part of `hidden` it carries: the items hidden for
    good are left out (no page could show them; a smaller entry), the items hidden for a while
    stay, with until when, for `visible()` to judge at the time of each page."""
    kept = tuple(
        item_id for item_id in item_ids if not (item_id in hidden and hidden[item_id] is None)
    )
    return kept, {item_id: hidden[item_id] for item_id in kept if item_id in hidden}


def hidden_from_cache(raw: Any) -> dict[str, float | None] | None:
    """A cached hidden map, or None when `raw` is not one (the entry is then not trusted)."""
    if not isinstance(raw, dict):
        return None
    for item_id, until in raw.items():
        if not isinstance(item_id, str):
            return None
        if until is not None and (isinstance(until, bool) or not isinstance(until, int | float)):
            return None
    return dict(raw)
