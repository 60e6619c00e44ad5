"""`workers.result_repr.saferepr` writes the text Celery's `saferepr` writes (the worker's
"succeeded" log line and the `task-succeeded` event): compared on random JSON-like values
at several limits and depths, and on values it leaves to Celery's. Plain Python."""

from __future__ import annotations

import random
import string
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from celery.app import trace
from celery.utils.saferepr import saferepr as celery_saferepr

from workers import result_repr
from workers.result_repr import saferepr


def _value(rnd: random.Random, depth: int) -> Any:
    roll = rnd.random()
    if depth > 5 or roll < 0.35:
        kind = rnd.choice("sifbnl")
        if kind == "s":
            return "".join(rnd.choice(string.printable + "é'\"\\ ")
                           for _ in range(rnd.randint(0, 12)))
        if kind == "l":
            return "it's " * rnd.randint(0, 300)
        if kind == "i":
            return rnd.randint(-10**6, 10**6)
        if kind == "f":
            return rnd.choice([0.1, 1e20, float("nan"), float("inf"), -0.0, rnd.random()])
        if kind == "b":
            return rnd.random() < 0.5
        return None
    if roll < 0.7:
        return {"".join(rnd.choice("ab' c") for _ in range(rnd.randint(0, 4))):
                _value(rnd, depth + 1) for _ in range(rnd.randint(0, 5))}
    return [_value(rnd, depth + 1) for _ in range(rnd.randint(0, 5))]


def test_the_same_text_as_celery_on_json_values() -> None:
    rnd = random.Random(24)
    for _ in range(3000):
        value = _value(rnd, 0)
        for maxlen in (None, 1024, 80, 10, 0):
            for levels in (3, 1, 0):
                assert saferepr(value, maxlen, levels) == celery_saferepr(value, maxlen, levels)


def test_other_values_are_celerys() -> None:
    looped: dict[str, Any] = {}
    looped["self"] = looped
    items: list[Any] = [1]
    items.append(items)
    shared = {"a": 1}
    for value in [(1, 2), {1: "a"}, {"a": (1,)}, OrderedDict(a=1), Decimal("1.5"), b"bytes",
                  {"s": {1, 2}}, type("S", (str,), {})("x"), looped, items,
                  {"x": shared, "y": shared}, {"text": "x" * 5000}]:
        assert saferepr(value, 1024) == celery_saferepr(value, 1024)


def test_installed_in_celerys_tracer() -> None:
    result_repr.install()
    assert trace.saferepr is saferepr  # type: ignore[attr-defined]
