"""Reading a routing config document from a file: YAML, or JSON for a `.json` file.

Whatever the bytes, the answer is a mapping or a `ConfigError` naming the file (or the
dotted path) and the reason, never another exception. Another kind of document read as
strictly (the demo's workload) passes its `DocumentKind`, which the refusals name. Refused:
- a file over `MAX_BYTES`, bytes that are not UTF-8 text, binary data (a NUL byte);
- an empty or comment-only file, more than one document, a top-level list or scalar;
- nesting deeper than `MAX_DEPTH`, or more than `MAX_VALUES` values once YAML aliases are
  expanded (a "billion laughs" alias bomb), an alias inside its own anchor;
- a key given twice in one mapping (YAML and JSON both keep the last one silently), a key
  that is not text;
- YAML tags (`!!binary`, `!!set`, `!!python/...`, `!foo`, also `!!int`...) but `!!str`,
  `!!seq` and `!!map`; integers of more than 100 digits; in JSON, `NaN` and `Infinity`.
YAML values are the JSON types: an unquoted date stays a string (no timestamps).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from routing.errors import ConfigError

MAX_BYTES = 1 << 20  # a routing config is a few KB
MAX_DEPTH = 32  # the shipped config nests 5 deep
MAX_VALUES = 100_000  # values, each alias counted as the values it repeats
_MAX_DIGITS = 100

_YAML = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_YAML}{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}
# Tags that may be written out: those that cannot fail (`!!int abc` would).
_EXPLICIT_TAGS = ("!", *(f"{_YAML}{t}" for t in ("str", "seq", "map")))
_STR, _MERGE = f"{_YAML}str", f"{_YAML}merge"


@dataclass(frozen=True)
class DocumentKind:
    """What a document is, for the refusals: `label` ("routing config"), `shape` (what the
    document is a mapping of) and `whole` (what a complete one gives)."""

    label: str
    shape: str
    whole: str


ROUTING_CONFIG = DocumentKind(
    "routing config", "a mapping of models, tiers, model_keys, rules and budgets",
    "the whole routing config (models, tiers, model_keys)")


class _Refused(yaml.MarkedYAMLError):
    """A document the loader refuses; `path` is the dotted path it concerns ('' if none)."""

    def __init__(self, problem: str, mark: Any, path: str = "") -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.path = path


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded (depth, expanded size), refusing duplicate keys and
    non-plain tags; resolving only the JSON types."""

    yaml_implicit_resolvers = {  # noqa: RUF012  (PyYAML's own class attribute)
        first: [(tag, regexp) for tag, regexp in resolvers if tag in _PLAIN_TAGS | {_MERGE}]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str, kind: DocumentKind) -> None:
        super().__init__(stream)
        self.kind = kind
        self._path: list[str] = [""]
        self._depth = 0
        self._deepest = 0  # the deepest level reached below the node being composed
        self._values = 0
        self._open: set[str] = set()  # anchors whose node is being composed
        self._extent: dict[str, tuple[int, int]] = {}  # anchor -> (values, height)

    def _grow(self, values: int, depth: int, mark: Any) -> None:
        self._values += values
        self._deepest = max(self._deepest, depth)
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels (aliases expanded); a "
                           f"{self.kind.label} nests a few levels", mark, self._path[-1])
        if self._values > MAX_VALUES:
            raise _Refused(f"more than {MAX_VALUES:,} values once aliases are expanded (an "
                           "alias bomb?)", mark, self._path[-1])

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        # The dotted path of this node: a mapping's value is named by its key, a list's
        # item by its index (a key itself shares its mapping's path).
        if isinstance(index, ScalarNode):
            here = _join(self._path[-1], index.value)
        else:
            here = _join(self._path[-1], index) if isinstance(index, int) else self._path[-1]
        if isinstance(event, AliasEvent):
            if event.anchor in self._open:
                raise _Refused(f"alias *{event.anchor} is inside its own anchor (a document "
                               "that contains itself)", event.start_mark, here)
            if event.anchor in self._extent:
                values, height = self._extent[event.anchor]
                self._path.append(here)
                self._grow(values, self._depth + height, event.start_mark)
                self._path.pop()
            return super().compose_node(parent, index)
        assert isinstance(event, ScalarEvent | CollectionStartEvent)
        if event.tag is not None and event.tag not in _EXPLICIT_TAGS:
            raise _Refused(f"the tag {event.tag} is not accepted: write a plain value (text, "
                           "number, true/false, null, list or mapping)", event.start_mark, here)
        self._path.append(here)
        outer_deepest, start = self._deepest, self._values
        self._depth += 1
        self._deepest = self._depth
        self._grow(1, self._depth, event.start_mark)
        if event.anchor is not None:
            self._open.add(event.anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._path.pop()
            if event.anchor is not None:
                self._open.discard(event.anchor)
        if event.anchor is not None:
            self._extent[event.anchor] = (self._values - start, self._deepest - self._depth)
        self._deepest = max(outer_deepest, self._deepest)
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        path = self._path[-1]
        seen: dict[str, int] = {}
        for key, _ in node.value:
            if key.tag == _MERGE:
                continue
            if not isinstance(key, ScalarNode) or key.tag != _STR:
                shown = key.value if isinstance(key, ScalarNode) else "a list or mapping"
                raise _Refused(f"the key {shown!r} is not text: quote it", key.start_mark,
                               path)
            line = key.start_mark.line + 1
            if key.value in seen:
                raise _Refused(f"duplicate key '{key.value}' (lines {seen[key.value]} and "
                               f"{line}): give each key once", key.start_mark,
                               _join(path, key.value))
            seen[key.value] = line
        return node


def _int(loader: _Loader, node: ScalarNode) -> int:
    digits = node.value.lstrip("+-").replace("_", "")
    if len(digits) > _MAX_DIGITS:
        raise _Refused(f"an integer of {len(digits)} digits: give a smaller number",
                       node.start_mark)
    value: int = loader.construct_yaml_int(node)
    return value


_Loader.add_constructor(f"{_YAML}int", _int)


def _yaml(text: str, name: str, kind: DocumentKind) -> Any:
    loader = None
    try:
        loader = _Loader(text, kind)  # (its reader refuses control characters at once)
        loader.name = name  # what marks (line, column) name
        return loader.get_single_data()
    except _Refused as exc:
        mark = exc.problem_mark
        where = f"{name}, line {mark.line + 1}, column {mark.column + 1}" if mark else name
        raise ConfigError([(exc.path, f"{exc.problem} ({where})")], kind.label) from None
    except yaml.YAMLError as exc:
        raise ConfigError([("", f"{name} is not valid YAML: {exc}")], kind.label) from None
    finally:
        if loader is not None:
            loader.dispose()


def _json(text: str, name: str, kind: DocumentKind) -> Any:
    duplicates: dict[int, list[str]] = {}

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) < len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    duplicates.setdefault(id(obj), []).append(key)
                seen.add(key)
        return obj

    def constant(word: str) -> Any:
        raise ValueError(f"{word} is not a JSON value: give a finite number")

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > _MAX_DIGITS:
            raise ValueError(f"an integer of {len(digits)} digits: give a smaller number")
        return int(digits)

    try:
        doc = json.loads(text, object_pairs_hook=pairs, parse_constant=constant,
                         parse_int=integer)
    except RecursionError:
        raise ConfigError([("", f"{name}: nested too deeply (at most {MAX_DEPTH} "
                                "levels)")], kind.label) from None
    except ValueError as exc:
        raise ConfigError([("", f"{name} is not valid JSON: {exc}")], kind.label) from None
    # Depth and duplicate keys, breadth first (no recursion: the depth is not known yet).
    level = [("", doc)]
    for depth in range(1, MAX_DEPTH + 2):
        below: list[tuple[str, Any]] = []
        for path, value in level:
            if isinstance(value, dict):
                if id(value) in duplicates:
                    key = duplicates[id(value)][0]
                    raise ConfigError([(_join(path, key), f"duplicate key '{key}' ({name}): "
                                        "give each key once")], kind.label)
                below += [(_join(path, k), v) for k, v in value.items()]
            elif isinstance(value, list):
                below += [(_join(path, i), v) for i, v in enumerate(value)]
        if below and depth == MAX_DEPTH:
            raise ConfigError([(below[0][0], f"nested deeper than {MAX_DEPTH} levels ({name}); "
                                f"a {kind.label} nests a few levels")], kind.label)
        level = below
    return doc


def parse_document(data: bytes, name: str, *, as_json: bool = False,
                   kind: DocumentKind = ROUTING_CONFIG) -> dict[str, Any]:
    """The document in `data` (YAML, or JSON with `as_json`); `name` names the source in
    messages, `kind` what it should be."""

    def refused(reason: str) -> ConfigError:
        return ConfigError([("", reason)], kind.label)

    if len(data) > MAX_BYTES:
        raise refused(f"{name} is larger than {MAX_BYTES // 1024} KiB; a {kind.label} is a "
                      "few KB: is this the right file?")
    if b"\0" in data:
        raise refused(f"{name} holds binary data (a NUL byte at offset {data.index(0)}), not "
                      "YAML or JSON text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise refused(f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                      f"{exc.start}, line {line}); save it as UTF-8") from None
    text = text.removeprefix("\ufeff")
    doc = _json(text, name, kind) if as_json else _yaml(text, name, kind)
    if doc is None:
        raise refused(f"{name} holds no document (empty, or only comments): give "
                      f"{kind.whole}")
    if not isinstance(doc, dict):
        raise refused(f"{name} holds {_kind(doc)}: a {kind.label} is {kind.shape}")
    return doc


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a text value"
    return "a boolean" if isinstance(value, bool) else "a number"


def read_document(path: str | Path, kind: DocumentKind = ROUTING_CONFIG) -> dict[str, Any]:
    """The document in the file at `path` (JSON if it is named `*.json`)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError([("", f"cannot read {path}: {exc.strerror}")], kind.label) from None
    return parse_document(data, str(path), as_json=str(path).lower().endswith(".json"),
                          kind=kind)
