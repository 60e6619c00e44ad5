"""Structural diff of two routing config documents.

`diff(old, new)` walks both JSON-able documents and returns one `Change` per leaf that
differs, with a dotted path such as `models.gpt-4o.price.input` or
`model_keys.code_review.fallbacks[1]`. A value that exists on one side only has `None`
on the other. The top-level `version` is ignored: it differs between any two versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

IGNORED_TOP_LEVEL = frozenset({"version"})


class Change(NamedTuple):
    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


def _same(a: Any, b: Any) -> bool:
    """Equal values; prices serialized as strings compare as numbers ("0.80" == "0.8")."""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        try:
            return Decimal(a) == Decimal(b)
        except InvalidOperation:
            return False
    return False


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _walk(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            if not path and key in IGNORED_TOP_LEVEL:
                continue
            _walk(_join(path, str(key)), old.get(key), new.get(key), out)
        return
    if _is_list(old) and _is_list(new):
        for i in range(max(len(old), len(new))):
            a = old[i] if i < len(old) else None
            b = new[i] if i < len(new) else None
            _walk(f"{path}[{i}]", a, b, out)
        return
    if not _same(old, new):
        out.append(Change(path, old, new))


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every leaf that differs between two config documents, in a stable order."""
    out: list[Change] = []
    _walk("", old, new, out)
    return out


def changed_paths(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [change.path for change in diff(old, new)]
