"""Old import paths of modules that moved into subpackages: they warn, then give the new object.

The old paths keep working for one release (0.2); they go in 0.3.
"""

import importlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any

REMOVED_IN = "0.3"


def moved_to(old: str, new: str, names: Iterable[str] | None = None) -> Callable[[str], Any]:
    """A module `__getattr__` for `old` that forwards `names` (None: any public name) to `new`."""
    allowed = None if names is None else frozenset(names)

    def __getattr__(name: str) -> Any:
        if name.startswith("_") or (allowed is not None and name not in allowed):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        try:
            value = getattr(importlib.import_module(new), name)
        except AttributeError:
            raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
        warnings.warn(
            f"{old}.{name} moved to {new}.{name}; the old path goes in {REMOVED_IN}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
