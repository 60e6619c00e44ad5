"""Strict value types shared by the routing config and the task inputs.

Nothing is coerced: a count is an int (not `true`, not `"512"`), a switch a bool, a
duration or share a finite number, a text a str that every encoder accepts (no lone
surrogate such as `"\\ud800"`, which passes pydantic but fails inside an SDK or a
terminal). Money is the one exception, on purpose: an amount in USD may be written as a
number (`0.80`) or as a number in a string (`"0.80"`, as the stored config itself writes
Decimals), never as a bool or any other string; it must be finite and below its cap.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StrictStr
from pydantic_core import PydanticCustomError


def text(value: Any) -> Any:
    """`value`, refused when it is a str holding a lone surrogate (not valid Unicode)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            # The position and code point only: the text may be a secret or a prompt.
            raise PydanticCustomError(
                "lone_surrogate",
                "holds a lone surrogate (U+{code}) at character {at}: not valid Unicode "
                "text; remove it or encode the text properly",
                {"code": f"{ord(value[exc.start]):04X}", "at": exc.start},
            ) from None
    return value


# A str, never bytes or a number, holding valid Unicode text (checked before pydantic
# reads it, which refuses some surrogates itself with a less helpful message).
Text = Annotated[StrictStr, BeforeValidator(text)]
# A name another field refers to (a model, tier or model key).
Ref = Annotated[StrictStr, Field(min_length=1, max_length=100), BeforeValidator(text)]
# A finite number: an int or a float, never a bool or a string.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Count = StrictInt

_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,6})?")


def _amount(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise PydanticCustomError(
            "usd_type", "must be a number of USD, e.g. 0.80 (or the number as a string)"
        )
    if isinstance(value, str) and (len(value) > 100 or not _NUMERIC.fullmatch(value)):
        raise PydanticCustomError(
            "usd_string", "must be a number of USD, e.g. 0.80 or \"0.80\" (a string holding "
            "only a decimal number)"
        )
    return value


def capped(cap: Decimal, unit: str, hint: str) -> AfterValidator:
    """A validator refusing amounts above `cap`, naming the cap and what to check."""

    def check(value: Decimal) -> Decimal:
        if value > cap:
            raise PydanticCustomError(
                "above_cap", "{value} is above the cap of {cap} {unit}; {hint}",
                {"value": f"{value:g}" if abs(value.adjusted()) > 12 else f"{value:f}",
                 "cap": f"{cap:,}", "unit": unit, "hint": hint},
            )
        return value

    return AfterValidator(check)


# An amount of USD: a number or a numeric string, finite, at least 0 (add a cap with
# `capped`).
Usd = Annotated[Decimal, BeforeValidator(_amount), Field(ge=0, allow_inf_nan=False)]
