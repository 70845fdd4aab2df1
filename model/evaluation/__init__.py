"""Judging models: ranking metrics, the offline table, the fallback's rankings, the release gate."""
