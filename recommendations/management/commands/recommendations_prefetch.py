"""Fill the cache with prefetched recommendations: the first fill, and for operations."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommendations.conf import app_settings
from recommendations.prefetch import users as prefetch


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
        if options["all"]:
            user_ids = list(
                get_user_model()
                ._default_manager.filter(is_active=True)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        elif options["active_days"] is not None:
            if options["active_days"] < 1:
                raise CommandError("--active-days must be at least 1.")
            user_ids = prefetch.active_user_ids(options["active_days"])
        else:
            user_ids = options["users"]

        done = invocations = 0
        with tqdm(total=len(user_ids), unit="user", disable=options["verbosity"] == 0) as bar:
            for batch in prefetch.batches(user_ids, batch_size):
                try:
                    result = prefetch.prefetch_users(batch, batch_size=batch_size)
                except prefetch.PrefetchInterrupted as interrupted:
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
