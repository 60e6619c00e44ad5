"""Money: integer micro-dollars everywhere, USD floats for display only.

A price of X USD per million tokens is X micro-dollars per token, so costs are summed
exactly in integers; `usd` turns micro-dollars into a float for output, and
`usd_to_micros` a configured USD limit into micro-dollars (rounded down, so a budget
never admits more than was set).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

MICROS_PER_USD = 1_000_000


def usd(micros: int) -> float:
    """Micro-dollars as USD, for display only."""
    return micros / MICROS_PER_USD


def usd_to_micros(amount: Decimal) -> int:
    """A USD amount as micro-dollars, rounded down."""
    return int((amount * MICROS_PER_USD).to_integral_value(rounding=ROUND_FLOOR))
