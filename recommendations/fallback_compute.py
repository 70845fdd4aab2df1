"""Deprecated old path: `compute_tables` and `blend` moved to `recommendations.fallback.compute`.

This path warns and goes in 0.3.
"""

from .moved import moved_to

__getattr__ = moved_to(__name__, "recommendations.fallback.compute")
