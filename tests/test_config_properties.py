"""Property: any mutation of the shipped config (a value set anywhere to any JSON or YAML
value, a key deleted or added) is either accepted, and then stored, shown as valid JSON
(no Infinity or NaN) and read back unchanged, or refused with a `ConfigError` whose every
problem names a path of the document (or of a missing field under one); never any other
exception. The same document written as YAML and read back behaves the same way."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import redis
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from routing.config.defaults import default_document
from routing.config.file import parse_document
from routing.config.load import load_config
from routing.config.store import ConfigStore
from routing.errors import ConfigError
from tests.support.cli import as_json, run
from tests.support.properties import bounded

DEFAULT = default_document()
NAMES = [*DEFAULT["models"], *DEFAULT["model_keys"], *DEFAULT["tiers"], "defer", "downgrade",
         "reject", "threads", "solo", "anthropic", "openai", "llm.haiku"]
FIELDS = ["max_output_tokens", "price", "fallbacks", "description", "trials", "judge",
          "extra", "daily_usd", "window_seconds", "model_keys", "dispatch", "escalate_to"]
EDGES: list[Any] = [
    10**20, 10**30, -1, 0, 1, 2**63, True, False, None, "", "512", "0.80", "1e20", " 1 ",
    "1_0", "NaN", "Infinity", "-0", 1e20, 0.5, -0.0, math.inf, -math.inf, math.nan,
    86_400, 366 * 86_400, 366 * 86_400 + 1, 10_000, "10000.01", 16_384, 64_000, 64_001,
    "bad \ud800", "x" * 2001, [], {}, ["claude-haiku-4-5"], {"daily_usd": 1},
    {"candidate": "kimi-for-coding", "sample": 0.1, "daily_budget_usd": 1},
]


_DELETE = object()


def _values() -> st.SearchStrategy[Any]:
    scalars = (st.sampled_from(EDGES) | st.sampled_from(NAMES) | st.booleans() | st.none()
               | st.integers(min_value=-(10**25), max_value=10**25)
               | st.floats() | st.text(max_size=12))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.sampled_from(FIELDS + NAMES), inner, max_size=3),
                        max_leaves=8)


def _slots(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path below `node` (dict keys and list indices)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, value in items:
        yield (*path, key)
        yield from _slots(value, (*path, key))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _near(value: Any) -> st.SearchStrategy[Any]:
    """A value of the same kind as `value` (so that a good share of documents pass)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        top = max(0, min(2 * value, 10**9)) + 10
        return st.integers(min_value=-1, max_value=top) | st.sampled_from(EDGES)
    if isinstance(value, float) and 0 <= value < 1e9:
        return st.floats(min_value=-1, max_value=2 * value + 1) | st.sampled_from(EDGES)
    if isinstance(value, str):
        return st.sampled_from(NAMES) | st.text(max_size=12) | st.from_regex(
            r"\A[0-9]{1,5}(\.[0-9]{1,3})?\Z")
    if isinstance(value, list):
        return st.lists(st.sampled_from(NAMES), max_size=3)
    return _values()


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(DEFAULT)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        slots = list(_slots(doc))
        op = draw(st.sampled_from(["near", "near", "near", "set", "delete", "add"]))
        if op == "add":
            holders = [()] + [p for p in slots if isinstance(_at(doc, p), dict)]
            holder = _at(doc, draw(st.sampled_from(holders)))
            holder[draw(st.sampled_from(FIELDS + NAMES))] = draw(_values())
            continue
        if not slots:
            break
        path = draw(st.sampled_from(slots))
        parent = _at(doc, path[:-1])
        if op == "near":
            parent[path[-1]] = draw(_near(parent[path[-1]]))
        elif op == "set":
            parent[path[-1]] = draw(_values())
        else:
            del parent[path[-1]]
    return doc


def _resolves(node: Any, rest: str) -> bool:
    """Whether the dotted path `rest` (keys may hold dots) names a value under `node`, or
    one missing key of a mapping under it (a required field left out)."""
    if rest == "":
        return True
    if rest.startswith("["):
        match = re.match(r"\[(\d+)\](.*)", rest)
        return (match is not None and isinstance(node, list | tuple)
                and int(match.group(1)) < len(node)
                and _resolves(node[int(match.group(1))], match.group(2)))
    rest = rest.removeprefix(".")
    if not isinstance(node, dict):
        return False
    for key in node:
        if (isinstance(key, str) and rest.startswith(key)
                and rest[len(key):][:1] in ("", ".", "[")
                and _resolves(node[key], rest[len(key):])):
            return True
    return "." not in rest and "[" not in rest  # a missing field of this mapping


def _refused_by_path(doc: dict[str, Any], exc: ConfigError) -> None:
    assert exc.problems
    for path, reason in exc.problems:
        assert reason, exc.problems
        assert _resolves(doc, path), (path, reason)


def _no_constant(word: str) -> Any:
    raise AssertionError(f"config show --json printed {word}: not JSON")


@bounded(200)
@given(doc=mutated())
def test_a_mutated_config_is_stored_and_shown_or_refused_by_path(
    env: dict[str, str], redis_client: redis.Redis, doc: dict[str, Any]
) -> None:
    try:
        config = load_config(doc)
    except ConfigError as exc:
        event("refused")
        _refused_by_path(doc, exc)
        return
    event("accepted")
    # Accepted: it is stored, `config show --json` prints it as JSON, and it reads back
    store = ConfigStore(redis_client, env["LLM_ROUTER_NAMESPACE"])
    stored = store.write(doc, author="property")
    shown = json.loads(run("config", "show", "--json").stdout, parse_constant=_no_constant)
    assert shown == store.read().document() == {**config.document(), "version": stored.version}
    assert load_config(shown) == stored
    run("config", "show")  # and the tables print


@bounded(200)
@given(doc=mutated())
def test_a_mutated_config_as_yaml_reads_back_the_same_or_is_refused(doc: dict[str, Any]) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    try:
        again = load_config(parse_document(text.encode("utf-8", "surrogatepass"), "m.yaml"))
    except ConfigError as exc:
        assert exc.problems and all(reason for _, reason in exc.problems)
        return
    assert again == load_config(doc)


def test_every_value_set_to_every_edge_is_shown_as_json_or_refused_by_path() -> None:
    # Exhaustively, one change at a time: each path of the shipped document (a value, a
    # list or a mapping) set to each edge value, and each deleted
    accepted = 0
    for path in list(_slots(DEFAULT)):
        for value in [*EDGES, _DELETE]:
            doc = copy.deepcopy(DEFAULT)
            if value is _DELETE:
                del _at(doc, path[:-1])[path[-1]]
            else:
                _at(doc, path[:-1])[path[-1]] = value
            try:
                config = load_config(doc)
            except ConfigError as exc:
                _refused_by_path(doc, exc)
                continue
            accepted += 1
            shown = json.dumps(config.document(), allow_nan=False)  # no Infinity, no NaN
            assert load_config(json.loads(shown)) == config
    assert accepted > 100  # (the edges include good values too)


def test_the_path_check_of_the_property(env: dict[str, str]) -> None:
    # (the oracle itself: paths that exist or name a missing field pass, others do not)
    assert as_json("config", "init")["version"] == 1
    _refused_by_path(DEFAULT, ConfigError([("models.gpt-4o.price.input", "x"),
                                           ("budgets.model_keys.monitoring", "x"),
                                           ("model_keys.lookup.fallbacks[0]", "x"),
                                           ("models.gemini-2.5-pro.max_output_tokens", "x"),
                                           ("model_keys.lookup.downgrade_to", "x")]))
    for bad in ("models.gpt-5.price", "model_keys.lookup.fallbacks[3]", "rules[0].x.y"):
        assert not _resolves(DEFAULT, bad), bad
