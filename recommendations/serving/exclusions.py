"""What a request tells the model not to recommend: the items hidden from the user for good
(`CatalogAdapter.hidden_items`: by default their purchases), bounded.

An optimisation, not the rule: the model's slots go to items that can be shown. The rule is
applied when the answer is read (`serving/visibility.py`), so an item hidden for a while only
(a view in the last hour) is not sent, and one left out of `exclude` never shows either.
A customer who bought thousands of products would otherwise send them all, past what the model
accepts (model/inference/protocol.py takes 1,000), and every one of their requests would fail: at most
EXCLUDE_MAX ids go out, the most recently bought first.
"""

from collections.abc import Collection, Mapping
from typing import Any

from ..conf import app_settings


def exclude_for(
    catalog: Any, user_id: int, hidden: Mapping[str, float | None] | Collection[str]
) -> tuple[str, ...]:
    """The ids to send as `exclude` for a user with these hidden items (a map to until when, or
    ids hidden for good): those hidden for good, all of them when they fit within EXCLUDE_MAX,
    else the EXCLUDE_MAX most recent (one more query, for heavy buyers only)."""
    if isinstance(hidden, Mapping):
        bought = {item_id for item_id, until in hidden.items() if until is None}
    else:
        bought = set(hidden)
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
