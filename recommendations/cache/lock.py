"""A lock in the shared cache that only the run holding it releases: one fallback refresh, one
export per destination, one insert of event batches at a time, across every process.

`cache.add(key, token, ttl)` takes it (atomic in Redis and Memcached). It expires by itself after
`ttl` seconds, so that a process that died holding it blocks the others at most that long. A run
that outlives `ttl` may find the lock taken by the next run when it finishes: it must leave that
lock alone, so it deletes the key only while the key still holds its own token. (Reading and
deleting are two calls: a lock that expires between them is deleted, a window of one round trip
rather than of a whole run.)
"""

import uuid

from .access import get_cache


class CacheLock:
    """`acquire()` once, then `release()` in a `finally`; a token tells this run's lock apart."""

    def __init__(self, key: str, ttl: int) -> None:
        self.key = key
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self.held = False

    def acquire(self) -> bool:
        """Take the lock; False when another run holds it. Raises CacheUnavailable."""
        self.held = get_cache().strict.add(self.key, self.token, self.ttl)
        return self.held

    def release(self) -> None:
        """Give the lock back, unless it expired and another run holds it now."""
        if not self.held:
            return
        self.held = False
        cache = get_cache()
        if cache.get(self.key) == self.token:
            cache.delete(self.key)
