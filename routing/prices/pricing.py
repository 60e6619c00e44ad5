"""Pricing: the cost of a usage in integer micro-dollars, the one function every figure uses.

A price of X USD per million tokens is X micro-dollars per token, so the cost of a call
is `sum(tokens * rate)` micro-dollars, computed exactly in `Decimal` and rounded half-up
once. A call is charged as the providers bill it: its total input tokens (uncached +
cache read + cache write) select the rates (`Price.rates_for`: the base rates, or the
long-context tier it is above), and those rates apply to every token of the call. A
batch discount applies on top. USD floats exist only for display (`routing.money.usd`).

Aggregates (a day's tokens of many calls, priced for the report's counterfactuals, the
review and `cost estimate`) are priced with `calls=`: the tier is then selected by the
mean total input per call, since a sum of small calls is not one long-context call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from routing.config.price import Price


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

    @property
    def total_input_tokens(self) -> int:
        """Every input token the provider counts: uncached, cache read and cache write."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

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


def exact_cost(usage: Usage, price: Price, *, batch: bool = False, calls: int = 1) -> Decimal:
    """Cost of `usage` (the tokens of `calls` calls) at `price`, in micro-dollars, unrounded."""
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    rates = price.rates_for(-(-usage.total_input_tokens // calls))  # mean, rounded up
    total = (
        usage.input_tokens * rates.input
        + usage.output_tokens * rates.output
        + usage.cache_read_tokens * rates.cache_read
        + usage.cache_write_tokens * rates.cache_write
    )
    if batch:
        total *= _batch_rate(price)
    return total


def _micros(total: Decimal) -> int:
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cost_micros(usage: Usage, price: Price, *, batch: bool = False, calls: int = 1) -> int:
    """Cost of `usage` at `price`, in integer micro-dollars (half-up rounding); `batch`: at
    the batch rate (`price.batch_discount` off every token); `calls`: `usage` sums that
    many calls (the tier is selected by their mean total input)."""
    return _micros(exact_cost(usage, price, batch=batch, calls=calls))


def total_cost_micros(parts: Iterable[tuple[Usage, int]], price: Price, *,
                      batch: bool = False) -> int:
    """Cost of groups of calls (`(usage, calls)`, e.g. one per aggregate row, each priced
    at its own tier) at `price`, summed exactly and rounded once."""
    return _micros(sum((exact_cost(u, price, batch=batch, calls=max(1, n)) for u, n in parts),
                       Decimal(0)))


def worst_case_micros(input_tokens: int, max_tokens: int, price: Price, *,
                      batch: bool = False) -> int:
    """Upper bound of a call's cost before it is made (for budget reservations); `batch`:
    at the batch rate.

    The rates are those of the tier the estimated `input_tokens` reach (so a long-context
    call reserves at its long-context rates), and input is charged at the dearest input
    rate of that tier (a cache write costs more than plain input).
    """
    rates = price.rates_for(input_tokens)
    dearest_input = max(rates.input, rates.cache_write)
    total = input_tokens * dearest_input + max_tokens * rates.output
    if batch:
        total *= _batch_rate(price)
    return int(total.to_integral_value(rounding=ROUND_CEILING))
