"""The format of the app's own values in the cache: JSON text, and whole numbers as they are.

Every value the app writes goes through `encode` (in `cache/access.py`), every value it reads
through `decode`. A whole number stays a number, because the cache's atomic `incr` works only on
the numbers Redis backends store as digits; anything else becomes compact JSON text. A value read
back that is neither (a pickled object someone else wrote, text that is not JSON) is a miss: the
app never acts on a value it did not write in this format. Readers still check the shape of what
they decode (see docs/cache-security.md for what this does and does not protect against).
"""

import json
from typing import Any

# What `decode` returns for a value that is not in the app's format.
MISSING: Any = object()


def encode(value: Any) -> int | str:
    """The cache form of `value`: an int as it is, anything else as JSON text."""
    # type() rather than isinstance(): True is an int too, but the Redis backends pickle it.
    if type(value) is int:
        return value
    # A value JSON cannot hold is the caller's bug: TypeError, as json raises it.
    return json.dumps(value, separators=(",", ":"))


def decode(raw: Any) -> Any:
    """The value the app wrote, or MISSING when `raw` is not in the app's format."""
    if type(raw) is int:
        return raw
    if not isinstance(raw, str):
        return MISSING
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError: not JSON; RecursionError: nested deeper than the interpreter allows.
        return MISSING
