"""Pricing: the cost of a usage in integer micro-dollars.

A price of X USD per million tokens is X micro-dollars per token, so the cost of a call
is `sum(tokens * price)` micro-dollars, computed exactly in `Decimal` and rounded half-up
once per call. USD floats exist only for display (`routing.money.usd`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from routing.config.models import Price


@dataclass(frozen=True, slots=True)
class Usage:
    """Normalized token counts: `input_tokens` excludes cached reads and cache writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"usage.{name} must be a non-negative integer, got {value!r}")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        return cls(**{k: int(data.get(k, 0)) for k in cls.__dataclass_fields__})


def _batch_rate(price: Price) -> Decimal:
    if price.batch_discount is None:
        raise ValueError("this model has no batch price (price.batch_discount): its calls "
                         "cannot be priced at a batch rate")
    return Decimal(1) - price.batch_discount


def cost_micros(usage: Usage, price: Price, *, batch: bool = False) -> int:
    """Cost of `usage` at `price`, in integer micro-dollars (half-up rounding); `batch`:
    at the batch rate (`price.batch_discount` off every token)."""
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * price.cache_read
        + usage.cache_write_tokens * price.cache_write
    )
    if batch:
        total *= _batch_rate(price)
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def worst_case_micros(input_tokens: int, max_tokens: int, price: Price, *,
                      batch: bool = False) -> int:
    """Upper bound of a call's cost before it is made (for budget reservations); `batch`:
    at the batch rate.

    Input is charged at the dearest input rate (a cache write costs more than plain input).
    """
    dearest_input = max(price.input, price.cache_write)
    total = input_tokens * dearest_input + max_tokens * price.output
    if batch:
        total *= _batch_rate(price)
    return int(total.to_integral_value(rounding="ROUND_CEILING"))
