"""The input of `llm-router plan`, checked before anything is computed: each bad value is
refused with a `PlanInputError` naming its flag, what is wrong and the expected form."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TypeVar

from routing.config.models import RoutingConfig
from routing.errors import PlanInputError

T = TypeVar("T")


def _pairs(flag: str, values: Iterable[str], form: str, config: RoutingConfig,
           convert: Callable[[str], T]) -> dict[str, T]:
    out: dict[str, T] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise PlanInputError(flag, f"expected {form}, got {raw!r}")
        if key not in config.model_keys:
            raise PlanInputError(flag, f"unknown model key '{key}' (known: "
                                       f"{', '.join(sorted(config.model_keys))})")
        if key in out:
            raise PlanInputError(flag, f"'{key}' is given twice; give each model key once")
        try:
            out[key] = convert(value.strip())
        except ValueError as exc:
            raise PlanInputError(flag, f"{raw!r}: {exc}; expected {form}") from None
    return out


def _whole(text: str) -> int:
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _count(text: str) -> int:
    number = _whole(text)
    if number < 0:
        raise ValueError("a number of calls cannot be negative")
    return number


def _seconds(text: str) -> float:
    try:
        seconds = float(text.removesuffix("s"))
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("a latency must be a positive number of seconds")
    return seconds


def _tokens(text: str) -> tuple[int, int]:
    given, sep, out = text.partition("/")
    if not sep:
        raise ValueError("input and output tokens are separated by '/'")
    tokens = _whole(given), _whole(out)
    if min(tokens) < 0:
        raise ValueError("token counts cannot be negative")
    return tokens


def calls_per_day(config: RoutingConfig, values: Iterable[str]) -> dict[str, int]:
    """`KEY=N` values (N may be written 1_000_000 or 1,000,000)."""
    counts = _pairs("--calls-per-day", values, "MODEL_KEY=N (e.g. lookup=1000000)", config,
                    _count)
    if not counts:
        raise PlanInputError("--calls-per-day", "give at least one MODEL_KEY=N")
    return counts


def latencies(config: RoutingConfig, values: Iterable[str],
              planned: Iterable[str]) -> dict[str, float]:
    """`KEY=SECONDS` values, for keys that are being planned."""
    return _for_planned("--latency", _pairs(
        "--latency", values, "MODEL_KEY=SECONDS (e.g. lookup=1.5)", config, _seconds), planned)


def tokens(config: RoutingConfig, values: Iterable[str],
           planned: Iterable[str]) -> dict[str, tuple[int, int]]:
    """`KEY=IN/OUT` values (tokens per call), for keys that are being planned."""
    return _for_planned("--tokens", _pairs(
        "--tokens", values, "MODEL_KEY=IN/OUT tokens per call (e.g. lookup=1500/300)",
        config, _tokens), planned)


def _for_planned(flag: str, given: dict[str, T], planned: Iterable[str]) -> dict[str, T]:
    extra = sorted(set(given) - set(planned))
    if extra:
        raise PlanInputError(flag, f"{', '.join(extra)} has no --calls-per-day; give its "
                                   "volume too, or drop it")
    return given


def utilization(value: float) -> float:
    if not (math.isfinite(value) and 0 < value <= 1):
        raise PlanInputError("--utilization", f"must be in (0, 1], e.g. 0.7, got {value}")
    return value
