"""The page's one products query, through the documented QuerySet API.

`products_by_pks(catalog, pks)` is `catalog.widget_products().filter(pk__in=pks)`: one query, with
whatever the adapter's `widget_products()` selects (`.only(...)`, its availability filter).
Keys are checked against the primary key field first (`keys.py`): one that its column cannot hold
(an endpoint's id past 64 bits, text for an integer key) is left out, never sent.
"""

from collections.abc import Sequence
from typing import Any

from django.db import models

from .keys import product_pks


def products_by_pks(catalog: Any, pks: Sequence[Any]) -> list[models.Model]:
    """`catalog.widget_products()` with these primary keys, in one query (unordered).

    Keys the primary key column cannot hold (see keys.py) are left out, like unknown ones.
    """
    pks = list(dict.fromkeys(product_pks(catalog.get_product_model(), pks)))
    if not pks:
        return []
    return list(catalog.widget_products().filter(pk__in=pks))
