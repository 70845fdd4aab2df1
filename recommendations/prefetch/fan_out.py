"""The prefetch fan-out: every active user into `prefetch_users` tasks, one page of users at a time.

Beat's `prefetch_active_users` reads one page of active users (PAGE_BATCHES batches of
BATCH_SIZE), publishes one `prefetch_users` task per batch, then publishes itself for the next
page, carrying only the page's last user id and the activity cutoff. So no process ever holds a
million ids and no message carries more than a batch; any number of workers, on any machines,
share the batches through the broker, which is the only thing they coordinate through. The next
page waits in the queue behind the current page's batches, so the queue never holds more than
about a page of work however many users there are.

One pass at a time: the first page takes a lock in the shared cache, each page carries its token
to the next and renews it, and the last page releases it. A pass beat starts while another is
still paging is skipped (logged and counted); a pass whose chain of tasks died stops blocking the
next once its lock expires (PREFETCH_PASS_LOCK_SECONDS after its last page).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from ..cache.access import CacheUnavailable
from ..cache.lock import CacheLock
from ..catalog import get_catalog
from ..conf import app_settings
from ..ops import metrics

logger = logging.getLogger(__name__)

LOCK_KEY = "recommendations:prefetch:pass"

# Batches published per fan-out task: 100 x 50 users is 5,000 ids read per page.
PAGE_BATCHES = 100


@dataclass(frozen=True)
class ActiveUsersPage:
    """One page of active users, and the id the next page starts after (None: the last page)."""

    since: datetime
    user_ids: list[int]
    next_after: int | None


def active_since(days: int | None = None, since: str | None = None) -> datetime:
    """The activity cutoff: `since` (ISO, carried from the first page) or `days` before now."""
    if since is not None:
        return datetime.fromisoformat(since)
    days = int(days if days is not None else app_settings.ACTIVE_DAYS)
    return timezone.now() - timedelta(days=days)


def page_size() -> int:
    """Users read per fan-out task."""
    return int(app_settings.BATCH_SIZE) * PAGE_BATCHES


def read_page(since: datetime, after: int = 0, size: int | None = None) -> ActiveUsersPage:
    """The active users after `after`, at most `size` of them (page_size() by default)."""
    size = size or page_size()
    user_ids = [int(pk) for pk in get_catalog().active_user_id_page(since, after, size)]
    # A short page is the last one; a full one may be too, which costs one empty read.
    next_after = user_ids[-1] if len(user_ids) >= size else None
    return ActiveUsersPage(since, user_ids, next_after)


def hold_pass(token: str | None = None) -> CacheLock | None:
    """The pass's lock, held for another PREFETCH_PASS_LOCK_SECONDS: a new pass's (no token) or
    the running pass's (its token); None when this page must not run (another pass holds it)."""
    lock = CacheLock(LOCK_KEY, int(app_settings.PREFETCH_PASS_LOCK_SECONDS), token)
    try:
        if lock.renew():
            return lock
    except CacheUnavailable:
        # Without the cache no pass can tell who pages, nor keep what it fetched: none runs.
        logger.warning(
            "Prefetch pass skipped: the cache is unavailable", extra={"reason": "cache_unavailable"}
        )
        return None
    if token is None:
        metrics.count_shared(metrics.PASSES_SKIPPED_KEY)
        logger.warning(
            "Prefetch pass skipped: the last pass is still paging (it takes longer than beat's "
            "interval; more workers or a longer interval catch up)",
            extra={"reason": "pass_running"},
        )
    else:
        # This pass's lock expired between two pages and a newer pass took it: that one goes on.
        logger.warning(
            "Prefetch pass stopped: a newer pass holds the lock", extra={"reason": "pass_replaced"}
        )
    return None
