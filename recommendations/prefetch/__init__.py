"""Batched prefetching, cache entries (fresh/stale), the refresh queue, model-version spreading."""
