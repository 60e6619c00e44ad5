"""A model's price in the routing config: base rates, long-context tiers, a batch discount.

Rates are USD per million tokens (numerically micro-dollars per token). A tier replaces
every rate once a call's total input (uncached + cache read + cache write tokens) is above
its `above_input_tokens`: providers bill long-context calls that way (Gemini 2.5 Pro
above 200k, Claude Sonnet 4.5 while its 1M-context beta ran), every token of the call at
the tier's rates, not only the tokens past the threshold. `model` is `price: catalog`
(resolved from the price catalog on a config write, `routing.prices.catalog`) or numbers.

Plain frozen dataclasses: `routing.config.schema` validates a document into them (its
bounds, the tiers' order).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# Prices are USD per million tokens: the dearest model today costs well under 100; a price
# above the cap is a unit mistake (USD per token, or per thousand), and would make a
# reservation overflow.
MAX_PRICE_USD_PER_MTOK = Decimal(10_000)
# A tier threshold is a token count a context window can hold.
MAX_TIER_THRESHOLD = 10_000_000
RATES = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True, kw_only=True)
class Rates:
    """The four token rates, USD per MTok."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal


@dataclass(frozen=True, kw_only=True)
class PriceTier(Rates):
    """The rates of a call whose total input tokens are above `above_input_tokens`."""

    above_input_tokens: int


@dataclass(frozen=True, kw_only=True)
class Price(Rates):
    """USD per million tokens (numerically equal to micro-dollars per token)."""

    # The share of the price a provider batch saves (0.5: half price), applied on top of
    # the tier's rates; None: this model has no batch price (a model key on it cannot say
    # `batch`).
    batch_discount: Decimal | None = None
    # Long-context tiers, thresholds strictly ascending; each gives all four rates.
    tiers: tuple[PriceTier, ...] = ()

    def rates_for(self, total_input_tokens: int) -> Rates:
        """The rates of a call with `total_input_tokens` (uncached + cache read + cache
        write): the last tier whose threshold it is above, else the base rates."""
        for tier in reversed(self.tiers):
            if total_input_tokens > tier.above_input_tokens:
                return tier
        return self

    @property
    def list_usd(self) -> Decimal:
        """The list price that ranks models: input + output USD per MTok (base rates)."""
        return self.input + self.output

    def shown(self) -> str:
        """`$0.80/$4.00 per MTok in/out` (cents at least, every digit given; with
        long-context tiers, `, more above 200,000 input tokens`)."""
        def cents(value: Decimal) -> str:
            exponent = value.as_tuple().exponent
            fine = isinstance(exponent, int) and exponent < -2
            return f"${value:f}" if fine else f"${value:.2f}"

        more = (f", more above {self.tiers[0].above_input_tokens:,} input tokens"
                if self.tiers else "")
        return f"{cents(self.input)}/{cents(self.output)} per MTok in/out{more}"
