"""Deprecated old path: the codecs (and `Codec` for a CODEC dotted path) moved to `recommendations.backends.codecs`.

This path warns and goes in 0.3.
"""

from .moved import moved_to

__getattr__ = moved_to(__name__, "recommendations.backends.codecs")
