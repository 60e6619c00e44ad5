"""Celery's `saferepr` of a task's return value, the same text at a fraction of the CPU.

After every task Celery's tracer writes the return value as `saferepr(R, 1024)` (the
worker's "succeeded" log line and the `task-succeeded` event, which Flower shows): a
token-by-token walk in Python, ~120 us for an `llm.run` result here. `saferepr` below
writes the text `celery.utils.saferepr.saferepr` writes, directly, for values made of
dicts with string keys, lists, strings, ints, floats, bools and None (what a JSON result
holds) when that text is shorter than the limit; anything else (another type, a
recursive container, a text the limit would cut) goes to Celery's own. Nothing about the
result changes: neither what is stored nor what is shown.

`install()` puts it in the tracer's module (`celery.app.trace`), once per process.
"""

from __future__ import annotations

from typing import Any

from celery.app import trace
from celery.utils import saferepr as celery_saferepr

_celery = celery_saferepr.saferepr


def saferepr(o: Any, maxlen: int | None = None, maxlevels: int = 3,
             seen: Any = None) -> str:
    """`celery.utils.saferepr.saferepr(o, maxlen, maxlevels, seen)`, the same text."""
    if seen is None:
        out: list[str] = []
        if _write(o, 0, maxlevels, out, set()):
            text = "".join(out)
            if maxlen is None or len(text) < maxlen:
                return text
    return str(_celery(o, maxlen, maxlevels, seen))


def _quoted(s: str) -> str:
    # (Celery's `_format_chars`: quotes, its own quote escaped, nothing else)
    return "'" + s.replace("'", "\\'") + "'"


def _write(v: Any, level: int, maxlevels: int, out: list[str], path: set[int]) -> bool:
    """Append `v`'s tokens as Celery's `reprstream` yields them (a container at depth
    `maxlevels` as `{...}` / `[...]`); False: a value it does not write (Celery's then)."""
    t = type(v)
    if t is str:
        out.append(_quoted(v))
    elif t is int or t is float or t is bool:
        out.append(str(v))
    elif v is None:
        out.append("None")
    elif t is dict or t is list:
        if maxlevels and level >= maxlevels:
            out.append("{...}" if t is dict else "[...]")
            return True
        if id(v) in path:  # recursive: Celery's marker
            return False
        path.add(id(v))
        if t is dict:
            out.append("{")
            for i, (key, value) in enumerate(v.items()):
                if type(key) is not str:
                    return False
                if i:
                    out.append(", ")
                out.append(_quoted(key))
                out.append(": ")
                if not _write(value, level + 1, maxlevels, out, path):
                    return False
            out.append("}")
        else:
            out.append("[")
            for i, item in enumerate(v):
                if i:
                    out.append(", ")
                if not _write(item, level + 1, maxlevels, out, path):
                    return False
            out.append("]")
        path.discard(id(v))
    else:
        return False
    return True


def install() -> None:
    """Celery's tracer writes return values with `saferepr` above."""
    trace.saferepr = saferepr  # type: ignore[attr-defined]


__all__ = ["install", "saferepr"]
