"""A small valid instance of a JSON schema, chosen deterministically from a seed.

Used by the simulated provider so that typed tasks (which ask for JSON matching a schema)
work offline. Covers what pydantic's `model_json_schema()` emits: `$ref`/`$defs`,
`anyOf`/`oneOf`/`allOf`, `enum`/`const`, objects (every property is filled in, required
or not), arrays (`minItems`/`maxItems`/`uniqueItems`), strings (`minLength`/`maxLength`,
common `format`s), numbers and integers with bounds, booleans and null. `pattern` is not
solved; a field with a pattern gets a plain word.

`schema_instance_unlike` gives a value that differs from another instance wherever the
schema leaves room (a wrong answer, for the simulated provider's error rates).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

WORDS = (
    "signal", "steady", "review", "latency", "budget", "queue", "cache", "model", "router",
    "summary", "stable", "trend", "metric", "window", "release", "backlog", "priority",
    "insight", "result", "update", "health", "capacity", "pattern", "outline", "plan",
)
_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00",
    "email": "agent@example.com",
    "uri": "https://example.com/item",
    "url": "https://example.com/item",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 12


def schema_instance(schema: Mapping[str, Any], seed: int) -> Any:
    """A value that validates against `schema` (same seed, same value)."""
    return _Builder(schema, random.Random(seed)).build(schema, 0)


def schema_instance_unlike(schema: Mapping[str, Any], seed: int, other: Any) -> Any:
    """A value valid against `schema` that differs from `other` (an instance of it) in
    every field where the schema allows another value: another enum member, the other
    boolean, another number or text; a list's items avoid all of `other`'s items (so a
    list read as a set differs too), where the schema leaves room."""
    return _Builder(schema, random.Random(seed)).build(schema, 0, [other])


def _items_of(values: list[Any]) -> list[Any]:
    return [item for value in values if isinstance(value, list) for item in value]


def _fields_of(values: list[Any], name: str) -> list[Any]:
    return [value[name] for value in values if isinstance(value, dict) and name in value]


class _Builder:
    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in schema and seen < _MAX_DEPTH:
            ref = str(schema["$ref"])
            node: Any = self.root
            for part in ref.removeprefix("#").strip("/").split("/"):
                if part:
                    node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**node, **siblings}
            seen += 1
        return schema

    def build(self, schema: Mapping[str, Any], depth: int,
              avoid: list[Any] | None = None) -> Any:
        """An instance of `schema`; `avoid`: values to differ from where possible."""
        schema = self.resolve(schema)
        avoid = avoid or []
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            options = list(schema["enum"])
            other = [v for v in options if v not in avoid]
            return self.rng.choice(other or options)
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [self.resolve(o) for o in schema[key]]
                non_null = [o for o in options if o.get("type") != "null"]
                return self.build(non_null[0], depth + 1, avoid) if non_null else None
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.resolve(part))
            merged.update({k: v for k, v in schema.items() if k != "allOf"})
            return self.build(merged, depth + 1, avoid)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if kinds else "null"
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        if depth > _MAX_DEPTH:
            return None if kind == "null" else self.scalar(kind, {}, avoid)
        if kind == "object":
            props = schema.get("properties", {})
            return {name: self.build(sub, depth + 1, _fields_of(avoid, name))
                    for name, sub in props.items()}
        if kind == "array":
            return self.array(schema, depth, _items_of(avoid))
        return self.scalar(str(kind), schema, avoid)

    def array(self, schema: Mapping[str, Any], depth: int,
              avoid: list[Any] | None = None) -> list[Any]:
        prefix = list(schema.get("prefixItems", ()))
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 3)))
        count = max(low, min(high, max(len(prefix), 1 + self.rng.randrange(2))))
        raw_items = schema.get("items")
        items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
        out: list[Any] = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            value = self.build(sub, depth + 1, avoid)
            tries = 0
            while schema.get("uniqueItems") and value in out and tries < 20:
                value = self.build(sub, depth + 1, [*(avoid or []), *out])
                tries += 1
            out.append(value)
        return out

    def scalar(self, kind: str, schema: Mapping[str, Any],
               avoid: list[Any] | None = None) -> Any:
        if kind == "null":
            return None
        if kind == "boolean":
            other = [b for b in (False, True) if b not in (avoid or [])]
            return other[0] if len(other) == 1 else self.rng.random() < 0.5
        make = ((lambda: self.number(kind == "integer", schema))
                if kind in ("integer", "number") else (lambda: self.string(schema)))
        value = make()
        for _ in range(20):  # another value than the ones to avoid, where there is one
            if not avoid or value not in avoid:
                break
            value = make()
        return value

    def number(self, integer: bool, schema: Mapping[str, Any]) -> int | float:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        lo = float(low) if low is not None else 0.0
        hi = float(high) if high is not None else max(lo, 0.0) + 10.0
        value = lo + (hi - lo) * (0.5 + 0.4 * self.rng.random())
        if integer:
            whole = math.floor(value)
            for candidate in (whole, math.ceil(lo), math.floor(hi)):
                if self.fits(candidate, schema):
                    return int(candidate)
            return int(whole)
        if not self.fits(value, schema):
            value = (lo + hi) / 2
        return round(value, 4) if self.fits(round(value, 4), schema) else value

    @staticmethod
    def fits(value: float, schema: Mapping[str, Any]) -> bool:
        def bound(key: str) -> float | None:
            raw = schema.get(key)
            return None if raw is None else float(raw)

        lo, hi = bound("minimum"), bound("maximum")
        xlo, xhi = bound("exclusiveMinimum"), bound("exclusiveMaximum")
        return ((lo is None or value >= lo) and (hi is None or value <= hi)
                and (xlo is None or value > xlo) and (xhi is None or value < xhi))

    def string(self, schema: Mapping[str, Any]) -> str:
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS:
            return _FORMATS[fmt]
        low = int(schema.get("minLength", 1))
        high = int(schema.get("maxLength", max(low, 60)))
        words = [self.rng.choice(WORDS) for _ in range(1 + self.rng.randrange(4))]
        text = " ".join(words)
        while len(text) < low:
            text += " " + self.rng.choice(WORDS)
        text = text[:high].strip()
        return text.ljust(low, "x")
