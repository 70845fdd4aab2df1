"""Deprecated old path: `catalog_changed()` moved to `recommendations.serving.product_snapshot`.

This path warns and goes in 0.3.
"""

from .moved import moved_to

__getattr__ = moved_to(__name__, "recommendations.serving.product_snapshot")
