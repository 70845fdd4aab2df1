"""The widget's HTML: the frame and each product's card rendered once per process, then reused
(most cards repeat across users and pages).

Each item is rendered with `recommendations/card.html` (context: `item`) and kept for
CARD_CACHE_SECONDS, keyed by everything the card shows of the item as the catalog adapter describes
it (id, position, source, name, URL, price as shown, image URL) and the language. The frame,
`recommendations/widget.html` (`recommendations`, `title`, `cards`), is kept the same way, keyed by
the title, the answer's source, model version, arm, variant, fallback reason, number of items and
the language. The parts that change with every page (the request id, the click token, the cards
in the frame) are rendered as markers and put in per page. A frame that shows more of
`recommendations` should run with CARD_CACHE_SECONDS = 0; one that does not show `cards` exactly
once is rendered on every page. A card template that shows more of `item.product` than the
adapter describes shows a change up to CARD_CACHE_SECONDS late.
"""

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

from django.template.loader import get_template, render_to_string
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from ..cache import local_state
from ..conf import app_settings
from .answers import Recommendations, RecommendedItem

WIDGET_TEMPLATE = "recommendations/widget.html"
CARD_TEMPLATE = "recommendations/card.html"
MAX_CARDS = 4096  # per process; about 0.5 kB each
# Stands for the impression's click token in a kept card; letters and digits only, so escaping
# leaves it as it is, and random per process, so no product text can contain it.
TOKEN_MARKER = f"tok{secrets.token_hex(12)}"

# Stand for the request id and the cards in a kept frame (widget.html), as TOKEN_MARKER does.
REQUEST_MARKER = f"req{secrets.token_hex(12)}"
CARDS_MARKER = f"cards{secrets.token_hex(12)}"

_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_:.\-]+")
_HEX = re.compile(r"[0-9a-f]+")

_cards: "OrderedDict[Hashable, tuple[float, str]]" = OrderedDict()
_lock = threading.Lock()


def render_widget(recommendations: Recommendations | None, title: str) -> SafeString:
    """The widget's HTML for these recommendations ("" when there are none)."""
    if recommendations is None or not recommendations.items:
        return mark_safe("")
    # What every card of this widget shares, worked out once for all of them.
    seconds = float(app_settings.CARD_CACHE_SECONDS or 0)
    token = recommendations.click_token
    safe_token = token if token and _SAFE_TOKEN.fullmatch(token) else None
    language = translation.get_language()
    cards = "\n    ".join(
        _card(item, seconds, safe_token, language) for item in recommendations.items
    )
    frame = _frame(recommendations, title, seconds, language)
    if frame is None:
        return render_to_string(
            WIDGET_TEMPLATE,
            {"recommendations": recommendations, "title": title, "cards": mark_safe(cards)},  # noqa: S308
        )
    # The request id is hex (uuid4) and the cards came out of the template engine (escaped).
    return mark_safe(  # noqa: S308
        frame.replace(REQUEST_MARKER, recommendations.request_id).replace(CARDS_MARKER, cards)
    )


def _frame(
    recommendations: Recommendations, title: str, seconds: float, language: str | None
) -> str | None:
    """The frame with markers for the request id and the cards, kept like a card; None: render."""
    if seconds <= 0 or not _HEX.fullmatch(recommendations.request_id):
        return None
    key = (
        "frame",
        title,
        recommendations.source,
        recommendations.model_version,
        recommendations.arm,
        recommendations.variant,
        recommendations.fallback_reason,
        len(recommendations.items),
        language,
    )

    def render() -> str | None:
        stand_in = replace(recommendations, request_id=REQUEST_MARKER, click_token=None)
        html = render_to_string(
            WIDGET_TEMPLATE,
            {"recommendations": stand_in, "title": title, "cards": mark_safe(CARDS_MARKER)},  # noqa: S308
        )
        # A frame that does not show the cards as given is rendered every time.
        return html if html.count(CARDS_MARKER) == 1 else None

    return _kept(key, seconds, render)


def _kept(key: Hashable, seconds: float, render: Callable[[], str | None]) -> str | None:
    """The HTML kept under `key`, rendered (and kept for `seconds`) when missing or expired."""
    now = time.monotonic()
    kept = _cards.get(key)
    if kept is None or kept[0] <= now:
        html = render()
        if html is None:
            return None
        kept = (now + seconds, html)
        with _lock:
            _cards[key] = kept
            _cards.move_to_end(key)
            while len(_cards) > MAX_CARDS:
                _cards.popitem(last=False)
    return kept[1]


def forget_cards(**kwargs: Any) -> None:
    """Drop the kept cards: TEMPLATES or CARD_CACHE_SECONDS may have changed (tests)."""
    with _lock:
        _cards.clear()


def _new_lock_after_fork() -> None:
    # The parent's lock may be held by one of its threads, which the child does not have.
    global _lock
    _lock = threading.Lock()
    forget_cards()


local_state.register("rendering", drop=forget_cards, after_fork=_new_lock_after_fork)


def _card(item: RecommendedItem, seconds: float, token: str | None, language: str | None) -> str:
    """The item's card: kept for `seconds`, with `token` (None: unusable) put in per page."""
    if seconds <= 0 or (item.click_url and not (token and token in item.click_url)):
        return _render(item)
    key = (
        item.item_id,
        item.position,
        item.source,
        item.name,
        item.url,
        item.price_display,
        item.image_url,
        bool(item.click_url),
        language,
    )

    def render() -> str:
        marked = item
        if item.click_url:
            marked = replace(item, click_url=item.click_url.replace(token, TOKEN_MARKER))
        return str(_render(marked))

    html = _kept(key, seconds, render) or ""
    if item.click_url:
        html = html.replace(TOKEN_MARKER, token)
    # The kept HTML came out of the template engine (escaped); the token is URL-safe base64.
    return html


def _render(item: Any) -> SafeString:
    return get_template(CARD_TEMPLATE).render({"item": item})
