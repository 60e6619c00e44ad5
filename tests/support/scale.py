"""How big the fault loops run: `LLM_ROUTER_TEST_SCALE=1` runs them at the scale the
issues measured (e.g. 300 tasks and 15 kills); unset or 0, the suite's smaller default,
which still hits each fault window every time."""

from __future__ import annotations

import os

import pytest

SCALE_ENV = "LLM_ROUTER_TEST_SCALE"


def full_scale() -> bool:
    value = os.environ.get(SCALE_ENV, "0").strip()
    if value not in ("", "0", "1"):
        pytest.fail(f"{SCALE_ENV}={value!r}: expected 1 (the measured scale) or 0 (default)")
    return value == "1"


def scaled(default: int, full: int) -> int:
    """`full` with LLM_ROUTER_TEST_SCALE=1, else `default`."""
    return full if full_scale() else default
