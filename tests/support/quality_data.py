"""Raw impressions, clicks and engagement events for the quality figures: the tests roll them up
with the real rollup code (reporting/rollups.py), so the figures come through the same path as
in a shop."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from recommendations.models import Click, EngagementEvent, Impression


def serve(
    when: datetime,
    viewers: Sequence[str],
    *,
    arm: str,
    source: str,
    version: str = "",
    variant: str = "",
    reason: str = "",
    clicked: int = 0,
    items: Sequence[int] = range(1, 9),
    cold: int = 0,
    checked: int = 0,
    dropped: int = 0,
) -> list[Impression]:
    """One impression per viewer; the first `clicked` get a click, the first `cold` were answered
    by the model's prior; each says the filter looked at `checked` model items, dropped `dropped`."""
    made = Impression.objects.bulk_create(
        Impression(
            request_id=uuid.uuid4().hex,
            pseudonym=viewer,
            arm=arm,
            source=source,
            model_version=version,
            variant=variant,
            fallback_reason=reason,
            items=[
                {"item_id": str(item), "position": position, "source": source}
                for position, item in enumerate(items, start=1)
            ],
            prior=number < cold,
            model_checked=checked,
            model_dropped=dropped,
            created_at=when,
        )
        for number, viewer in enumerate(viewers)
    )
    Click.objects.bulk_create(
        Click(
            click_id=uuid.uuid4().hex,
            impression_request_id=impression.request_id,
            item_id=impression.items[0]["item_id"],
            position=1,
            pseudonym=impression.pseudonym,
            arm=arm,
            source=source,
            variant=variant,
            created_at=when + timedelta(seconds=30),
        )
        for impression in made[:clicked]
    )
    return made


def act(when: datetime, viewers: Sequence[str], *, arm: str, action: str) -> None:
    """An engagement event (a `visit` of the control arm, or one of the shop's actions) each."""
    EngagementEvent.objects.bulk_create(
        EngagementEvent(
            event_id=uuid.uuid4().hex, pseudonym=viewer, arm=arm, action=action, created_at=when
        )
        for viewer in viewers
    )


def people(prefix: str, count: int, start: int = 0) -> list[str]:
    """`count` pseudonyms."""
    return [f"{prefix}{n}" for n in range(start, start + count)]
