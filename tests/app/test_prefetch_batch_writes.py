"""A prefetch batch writes its entries in one cache round trip and one announcement, and every
process that kept one of the users' older entries drops it (real redis-server)."""

import pytest
import redis

from recommendations.cache import near as near_cache
from recommendations.prefetch import entries
from tests.support.celery_worker import wait_for
from tests.support.redis_process import redis_server_fixture  # noqa: F401

pytestmark = pytest.mark.redis


def command_calls(server, command: str) -> int:
    client = redis.Redis(port=server.port)
    try:
        return client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)
    finally:
        client.close()


def items(user_id: int) -> tuple[str, ...] | None:
    entry, _ = entries.read_entry_with(user_id, None)
    return entry.item_ids if entry else None


def test_a_batch_of_entries_is_one_announcement_and_replaces_kept_copies(redis_server):
    for user_id in (7, 8):
        entries.write_entry(user_id, ["1"], "v1")
        items(user_id)
    wait_for(lambda: near_cache.near_cache().live, timeout=5.0, interval=0.01)
    assert (items(7), items(8)) == (("1",), ("1",))  # kept by this process from now on
    published = command_calls(redis_server, "publish")

    entries.write_entries(
        [(7, ["4", "5"], "v2", "A", False), (8, ["6"], "v2", "A", True), (9, [], "v2", None, False)]
    )

    assert command_calls(redis_server, "publish") == published + 1
    assert (items(7), items(8), items(9)) == (("4", "5"), ("6",), ())
    entry = entries.read_entry(7)
    assert (entry.model_version, entry.variant, entry.is_fresh()) == ("v2", "A", True)
    assert (entry.prior, entries.read_entry(8).prior) == (False, True)


def test_an_empty_batch_writes_nothing(redis_server):
    published = command_calls(redis_server, "publish")
    entries.write_entries([])
    assert command_calls(redis_server, "publish") == published
