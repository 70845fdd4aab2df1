"""A price as the widget shows it: the amount in the active locale's number format, with the
shop's currency (`RECOMMENDATIONS["CURRENCY"]`, an ISO 4217 code).

Numbers follow Django's format localization (the active language's decimal separator, and
thousands grouped when `USE_THOUSAND_SEPARATOR` is on). The symbol goes before the amount: one
of the few in `SYMBOLS`, else the code and a no-break space ("CHF 12.50"). A shop that wants the
symbol placed by its locale ("12,50 €") overrides `CatalogAdapter.format_price`
(docs/installation.md shows one with Babel).
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.formats import number_format

# Symbols that name one currency only ("$" alone would also read as CAD, AUD, ...).
SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥", "INR": "₹", "KRW": "₩"}
# Currencies without minor units; every other one shows two decimals.
WHOLE_UNITS = frozenset({"JPY", "KRW", "ISK", "CLP", "VND"})
NO_BREAK_SPACE = "\u00a0"


def format_amount(amount: Any, currency: str | None) -> str:
    """`amount` (a Decimal, int, float or numeric string) with `currency`'s symbol, in the active
    locale; with no currency, the number alone. A value that is no number is shown as it is."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    number = number_format(value, decimal_pos=0 if currency in WHOLE_UNITS else 2)
    if currency is None:
        return number
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{currency}{NO_BREAK_SPACE}{number}"
