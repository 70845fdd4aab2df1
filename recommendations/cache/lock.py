"""A lock in the shared cache that only the run holding it releases: one fallback refresh, one
export per destination, one insert of event batches at a time, across every process.

`cache.add(key, token, ttl)` takes it (atomic in Redis and Memcached). It expires by itself after
`ttl` seconds, so that a process that died holding it blocks the others at most that long. A run
that outlives `ttl` may find the lock taken by the next run when it finishes: it must leave that
lock alone, so it deletes the key only while the key still holds its own token. (Reading and
deleting are two calls: a lock that expires between them is deleted, a window of one round trip
rather than of a whole run.)

A run that spans several tasks (a prefetch pass, page by page) carries its token from task to
task and `renew()`s the lock in each, which pushes the expiry forward; its last task releases it.
"""

import uuid

from .access import get_cache


class CacheLock:
    """`acquire()` once, then `release()` in a `finally`; a token tells this run's lock apart."""

    def __init__(self, key: str, ttl: int, token: str | None = None) -> None:
        self.key = key
        self.ttl = ttl
        self.token = token or uuid.uuid4().hex
        self.held = False

    def acquire(self) -> bool:
        """Take the lock; False when another run holds it. Raises CacheUnavailable."""
        self.held = get_cache().strict.add(self.key, self.token, self.ttl)
        return self.held

    def renew(self) -> bool:
        """Hold the lock for another `ttl`: extended while it holds this token, taken again when it
        expired and nobody took it; False when another run holds it. Raises CacheUnavailable."""
        cache = get_cache().strict
        holder = cache.get(self.key)
        if holder == self.token and cache.touch(self.key, self.ttl):
            # Read and touch are two calls, as in release(): a window of one round trip.
            self.held = True
        elif holder not in (None, self.token):
            self.held = False
        else:
            self.held = cache.add(self.key, self.token, self.ttl)
        return self.held

    def release(self) -> None:
        """Give the lock back, unless it expired and another run holds it now."""
        if not self.held:
            return
        self.held = False
        cache = get_cache()
        if cache.get(self.key) == self.token:
            cache.delete(self.key)
