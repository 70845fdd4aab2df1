"""Deprecated old path: the app's error types moved to `recommendations.backends.exceptions`.

This path warns and goes in 0.3.
"""

from .moved import moved_to

__getattr__ = moved_to(__name__, "recommendations.backends.exceptions")
