"""What a request tells the model not to recommend: the user's most recent purchases, bounded.

A customer who bought thousands of products would otherwise send them all as `exclude`, past
what the model accepts (model/protocol.py takes 1,000), and every one of their requests would fail.
So at most EXCLUDE_MAX ids go out, the most recently bought first; purchases older than those are
dropped from the model's answer before it is kept (`without_bought`), so they never show either.
"""

from collections.abc import Collection, Iterable
from typing import Any

from ..conf import app_settings


def exclude_for(catalog: Any, user_id: int, bought: Collection[str]) -> tuple[str, ...]:
    """The ids to send as `exclude` for a user who bought `bought`: all of them when they fit
    within EXCLUDE_MAX, else the EXCLUDE_MAX most recent (one more query, for heavy buyers only)."""
    limit = int(app_settings.EXCLUDE_MAX)
    if len(bought) <= limit:
        return tuple(sorted(bought))
    # recent_item_ids is newest first; keep only purchases (an adapter may count views too) and
    # top up from the rest in a stable order when it knows fewer than the limit.
    chosen = dict.fromkeys(
        item_id for item_id in catalog.recent_item_ids(user_id, limit) if item_id in bought
    )
    for item_id in sorted(bought):
        if len(chosen) >= limit:
            break
        chosen.setdefault(item_id, None)
    return tuple(sorted(list(chosen)[:limit]))


def without_bought(item_ids: Iterable[str], bought: Collection[str]) -> tuple[str, ...]:
    """`item_ids` less the ones the user bought, in order."""
    return tuple(item_id for item_id in item_ids if item_id not in bought)
