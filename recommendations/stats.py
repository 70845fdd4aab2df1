"""Deprecated old path: the report's statistics (`impressions_needed`...) moved to `recommendations.reporting.stats`.

This path warns and goes in 0.3.
"""

from .moved import moved_to

__getattr__ = moved_to(__name__, "recommendations.reporting.stats")
