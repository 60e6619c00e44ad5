"""Comparing a candidate model's typed output with the production one, for shadow trials.

Only the fields that carry an output's decision are compared (`Out.compared`: a label, a
choice, extracted values, selected ids), after normalisation: text is case-folded with its
whitespace collapsed and trailing punctuation dropped; a text that reads as a number
("1,240.00", "EUR 1240") compares as that number; lists keep their order, sets (ids,
paths) do not. The verdict is `agree`, `disagree` (naming the fields) or
`candidate_invalid` (the candidate's text is not a valid output for the input).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from tasks.schemas import Out
from workers.contract import Comparison

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"^[^\d\-+]{0,4}([-+]?[\d,' ]*\.?\d+)[^\d]{0,4}$")


def normalise(value: Any) -> Any:
    """A value in the form two equivalent answers share."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return _number(str(value))
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return frozenset(normalise(v) for v in value)
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "").replace("'", "").replace(" ", "")).normalize()
    except InvalidOperation:
        return None


def _text(value: str) -> Any:
    text = _SPACE.sub(" ", value).strip().casefold().rstrip(".!;")
    match = _NUMBER.match(text)
    if match:
        number = _number(match.group(1))
        if number is not None:
            return number
    return text


def compare(production: Out, candidate: Out | None) -> Comparison:
    """The verdict on `candidate` (None: it gave no valid output) against `production`."""
    if candidate is None:
        return Comparison("candidate_invalid")
    ours, theirs = production.decision(), candidate.decision()
    differ = tuple(name for name in ours if normalise(ours[name]) != normalise(theirs[name]))
    return Comparison("disagree", differ) if differ else Comparison("agree")
