"""The answer for one page view, as the service gives it and the templates, tracking and API read it.

Below the service, so that rendering and tracking read answers without importing `service.py`.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RecommendedItem:
    """One product in the widget, with what the templates and the JSON API show of it.

    Made for one page view; tracking sets `click_url` on it before it is rendered.
    """

    product: Any
    item_id: str
    position: int
    source: str
    name: str
    url: str | None
    price: Any
    image_url: str | None
    # The price as the card shows it (the adapter's format_price), and its ISO 4217 code.
    price_display: str | None = None
    currency: str | None = None
    # The signed tracking link, when TRACKING is on (see tracking/impressions.py).
    click_url: str | None = None

    @property
    def link(self) -> str | None:
        """Where the widget's links go: through the click redirect when tracking, else the product."""
        return self.click_url or self.url


@dataclass(frozen=True, slots=True)
class ModelAnswered:
    """What the model answered for one page view, and what the availability filter left of it.

    For the quality figures (`reporting/quality.py`): kept even when none of the model's items
    could be shown, so that a fully stale answer still counts against the version that gave it.
    """

    model_version: str | None
    variant: str | None = None  # the production variant that answered
    prior: bool = False  # the model did not know the viewer: it answered with its popularity prior
    checked: int = 0  # the model's items whose availability was looked at
    dropped: int = 0  # of those, the ones the availability filter dropped (stale items)


@dataclass
class Recommendations:
    """The answer for one page view: items, where they came from, and why (if not the model)."""

    items: list[RecommendedItem]
    source: str  # "model", "fallback", "mixed", or "none" (the control arm: no widget)
    model_version: str | None
    request_id: str
    fallback_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    arm: str = "model"  # tracking.arms.MODEL; or "holdout", "variant", "control", "anonymous"
    variant: str | None = None  # the production variant whose answer is shown, when known
    click_token: str | None = None  # the impression's signed token in the click links (tracking)
    answered: ModelAnswered | None = None  # None when the model was not asked or did not answer

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def products(self) -> list[Any]:
        return [item.product for item in self.items]
