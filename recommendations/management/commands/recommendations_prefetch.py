"""Fill the cache with prefetched recommendations: the first fill, and for operations."""

from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from tqdm import tqdm

from recommendations.conf import app_settings
from recommendations.prefetch import fan_out
from recommendations.prefetch.users import PrefetchInterrupted, batches, prefetch_users


class Command(BaseCommand):
    help = "Prefetch recommendations into the cache, in batches of BATCH_SIZE users per invocation."

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--all", action="store_true", help="every active user account")
        who.add_argument("--active-days", type=int, help="users active in the last N days")
        who.add_argument("--user", type=int, nargs="+", dest="users", help="these user ids")
        parser.add_argument("--batch-size", type=int, default=None, help="users per invocation")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"] or int(app_settings.BATCH_SIZE)
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["active_days"] is not None and options["active_days"] < 1:
            raise CommandError("--active-days must be at least 1.")
        user_batches, total = self._user_batches(options, batch_size)

        done = invocations = 0
        with tqdm(total=total, unit="user", disable=options["verbosity"] == 0) as bar:
            for batch in user_batches:
                try:
                    result = prefetch_users(batch, batch_size=batch_size)
                except PrefetchInterrupted as interrupted:
                    raise CommandError(
                        f"Stopped after {done} users: the endpoint failed with "
                        f"{type(interrupted.error).__name__} ({interrupted.error})."
                    ) from None
                done += result.users
                invocations += result.invocations
                bar.update(result.users)
        self.stdout.write(
            self.style.SUCCESS(f"Prefetched {done} users in {invocations} invocations.")
        )

    def _user_batches(
        self, options: dict[str, Any], batch_size: int
    ) -> tuple[Iterator[list[int]], int | None]:
        """The users to prefetch in batches, read a page at a time; their number when known."""
        if options["all"]:
            users = get_user_model()._default_manager.filter(is_active=True)
            return _keyset_batches(users, batch_size), users.count()
        if options["active_days"] is not None:
            return _active_batches(options["active_days"], batch_size), None
        return batches(options["users"], batch_size), len(options["users"])


def _keyset_batches(users: QuerySet, batch_size: int) -> Iterator[list[int]]:
    """Batches of `users`' primary keys, one page of fan_out.PAGE_BATCHES batches per query."""
    after = None
    while True:
        page_users = users.order_by("pk")
        if after is not None:
            page_users = page_users.filter(pk__gt=after)
        page = list(page_users.values_list("pk", flat=True)[: batch_size * fan_out.PAGE_BATCHES])
        yield from batches(page, batch_size)
        if len(page) < batch_size * fan_out.PAGE_BATCHES:
            return
        after = page[-1]


def _active_batches(days: int, batch_size: int) -> Iterator[list[int]]:
    """Batches of the users active in the last `days` days, read as beat's fan-out reads them."""
    since, after = fan_out.active_since(days), 0
    while True:
        page = fan_out.read_page(since, after, batch_size * fan_out.PAGE_BATCHES)
        yield from batches(page.user_ids, batch_size)
        if page.next_after is None:
            return
        after = page.next_after
