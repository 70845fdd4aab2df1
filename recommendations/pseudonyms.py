"""Deprecated old path: `pseudonym` moved to `recommendations.tracking.pseudonyms`.

This path warns and goes in 0.3.
"""

from .moved import moved_to

__getattr__ = moved_to(__name__, "recommendations.tracking.pseudonyms")
