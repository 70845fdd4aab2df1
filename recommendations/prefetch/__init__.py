"""Batched prefetching, cache entries (fresh/stale), the refresh queue, model-version spreading."""

from ..moved import moved_to

# `recommendations.prefetch.prefetch_users` and its neighbours moved to `prefetch.users` (0.2).
__getattr__ = moved_to(
    __name__,
    "recommendations.prefetch.users",
    names=("PrefetchInterrupted", "PrefetchResult", "active_user_ids", "batches", "prefetch_users"),
)
