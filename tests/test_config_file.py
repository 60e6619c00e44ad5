"""A config file that is not a routing config document is refused as `path: reason`
(exit 2, or the JSON error document under --json), never with a traceback, and nothing is
stored: malformed bytes, the wrong shape, deep nesting, alias bombs, duplicate keys,
non-plain YAML tags. Whatever the bytes, the reader answers a mapping or a ConfigError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from routing.config.defaults import default_document
from routing.config.file import MAX_BYTES, MAX_DEPTH, MAX_VALUES, parse_document, read_document
from routing.errors import ConfigError
from tests.support.cli import as_json, run
from tests.support.properties import bounded

# "Billion laughs": 9 aliases of 9 aliases of ... ("lol" 9**9 times once expanded)
BOMB = "l0: &l0 [" + ", ".join(['"lol"'] * 9) + "]\n" + "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9)
)
DEFAULT_YAML = yaml.safe_dump(default_document(), sort_keys=False)

# (file name, content, the path named ('' for the file itself), what the reason says)
REFUSED: list[tuple[str, bytes, str, str]] = [
    ("list.yaml", b"- models\n- tiers\n", "", "holds a list: a routing config is a mapping"),
    ("scalar.yaml", b"just text\n", "", "holds a text value"),
    ("int.yaml", b"42\n", "", "holds a number"),
    ("int.json", b"42", "", "holds a number"),
    ("empty.yaml", b"", "", "holds no document (empty, or only comments)"),
    ("comments.yaml", b"# nothing\n\n# here\n", "", "holds no document"),
    ("latin1.yaml", "description: caf\xe9\n".encode("latin-1"), "",
     "is not UTF-8 text (byte 0xe9 at offset 16, line 1)"),
    ("binary.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "", "holds binary data"),
    ("deep.yaml", b"[" * 50_000, "[0]" * MAX_DEPTH, f"nested deeper than {MAX_DEPTH} levels"),
    ("deep.json", b"[" * 50_000, "", "nested too deeply"),
    ("deep-ok-syntax.json", b"[" * 40 + b"]" * 40, "[0]" * MAX_DEPTH,
     f"nested deeper than {MAX_DEPTH} levels"),
    ("bomb.yaml", BOMB.encode(), "l5[0]", f"more than {MAX_VALUES:,} values once aliases"),
    ("self.yaml", b"models: &m {a: *m}\n", "models.a", "alias *m is inside its own anchor"),
    ("dup.yaml", DEFAULT_YAML.replace("  tier: opus\n", "  tier: opus\n    tier: haiku\n",
                                      1).encode(),
     "models.claude-opus-4-6.tier", "duplicate key 'tier' (lines"),
    ("dup-top.yaml", (DEFAULT_YAML + "rules: []\n").encode(), "rules", "duplicate key 'rules'"),
    ("dup.json", b'{"budgets": {"daily_usd": 5, "daily_usd": 50}}', "budgets.daily_usd",
     "duplicate key 'daily_usd'"),
    ("binary-tag.yaml", DEFAULT_YAML.replace(
        "provider_model: gpt-4o", "provider_model: !!binary Z3B0LTRv").encode(),
     "models.gpt-4o.provider_model",
     "the tag tag:yaml.org,2002:binary is not accepted"),
    ("python-tag.yaml", b"models: !!python/object:os.system {}\n", "models",
     "tag:yaml.org,2002:python/object:os.system is not accepted"),
    ("local-tag.yaml", b"models: !mine {}\n", "models", "the tag !mine is not accepted"),
    ("set.yaml", b"rules: !!set {a, b}\n", "rules", "tag:yaml.org,2002:set is not accepted"),
    ("bool-tag.yaml", b"tiers: {haiku: {dispatch: !!bool maybe}}\n", "tiers.haiku.dispatch",
     "tag:yaml.org,2002:bool is not accepted"),
    ("int-tag.yaml", b"budgets: {window_seconds: !!int abc}\n", "budgets.window_seconds",
     "tag:yaml.org,2002:int is not accepted"),
    ("sexagesimal.yaml", b"budgets: {window_seconds: " + b"1:" * 60 + b"1}\n", "",
     "an integer of 121 digits"),
    ("int-key.yaml", b"models:\n  1: {}\n", "models", "the key '1' is not text: quote it"),
    ("huge-int.yaml", b"budgets: {window_seconds: " + b"9" * 5000 + b"}\n", "",
     "an integer of 5000 digits"),
    ("huge-int.json", b'{"budgets": {"window_seconds": ' + b"9" * 5000 + b"}}", "",
     "an integer of 5000 digits"),
    ("nan.json", b'{"budgets": {"daily_usd": NaN}}', "", "NaN is not a JSON value"),
    ("two.yaml", b"models: {}\n---\ntiers: {}\n", "", "expected a single document"),
    ("big.yaml", b"# padding\n" * (MAX_BYTES // 10 + 1), "", "larger than 1024 KiB"),
    ("bad.json", b"{'models': 1}", "", "is not valid JSON"),
    ("bad.yaml", b"models: [unclosed\n", "", "is not valid YAML"),
]


@pytest.mark.parametrize(("name", "content", "path", "says"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_the_reader_refuses_by_path_and_reason(
    tmp_path: Path, name: str, content: bytes, path: str, says: str
) -> None:
    file = tmp_path / name
    file.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        read_document(file)
    ((named, reason),) = info.value.problems
    assert (named, says in reason) == (path, True), info.value.problems


@pytest.mark.parametrize(("name", "content", "path", "says"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_config_apply_refuses_with_exit_2_and_stores_nothing(
    env: dict[str, str], tmp_path: Path, name: str, content: bytes, path: str, says: str
) -> None:
    as_json("config", "init")
    file = tmp_path / name
    file.write_bytes(content)
    # When the file is applied (and given to init --force)
    plain = run("config", "apply", str(file), code=2)
    doc = json.loads(run("config", "apply", str(file), "--json", code=2).stdout)
    forced = run("config", "init", "--force", "--file", str(file), code=2)
    # Then the problem is `path: reason` on stderr, no traceback, the same in the document
    line = f"{path}: " if path else ""
    assert f"\n  {line}" in plain.stderr and says in plain.stderr, plain.stderr
    assert "Traceback" not in plain.stderr + forced.stderr
    assert says in forced.stderr
    assert doc["exit_code"] == 2 and doc["problems"][0]["path"] == path
    assert says in doc["problems"][0]["reason"]
    # and nothing was stored
    assert as_json("config", "show")["version"] == 1
    assert len(as_json("config", "history")["entries"]) == 1


def test_what_is_still_accepted(tmp_path: Path) -> None:
    # Anchors, aliases and merge keys within bounds; a BOM; `!!str`; dates stay text;
    # JSON as YAML; the document `config show --json` prints
    doc = parse_document(
        b"\xef\xbb\xbfbase: &b {input: 1, output: 2}\n"
        b"price: {<<: *b, output: 3}\n"
        b"names: [*b, *b]\nwhen: 2024-01-01\ncode: !!str 512\n", "ok.yaml")
    assert doc == {"base": {"input": 1, "output": 2}, "price": {"input": 1, "output": 3},
                   "names": [{"input": 1, "output": 2}] * 2, "when": "2024-01-01",
                   "code": "512"}
    shown = tmp_path / "shown.json"
    shown.write_text(json.dumps(default_document(), indent=2))
    assert read_document(shown) == default_document()
    as_yaml = tmp_path / "shown.yaml"
    as_yaml.write_text(json.dumps(default_document(), indent=2))
    assert read_document(as_yaml) == default_document()


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=30,
    )


def _mapping_or_refused(data: bytes, name: str) -> None:
    try:
        doc = parse_document(data, name, as_json=name.endswith(".json"))
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and r for p, r in exc.problems)
        str(exc).encode("utf-8")  # printable
    else:
        assert isinstance(doc, dict)


@bounded()
@given(st.binary(max_size=300), st.sampled_from(["f.yaml", "f.json"]))
def test_any_bytes_give_a_mapping_or_a_config_error(data: bytes, name: str) -> None:
    _mapping_or_refused(data, name)


@bounded()
@given(st.text(max_size=300), st.sampled_from(["f.yaml", "f.json"]))
def test_any_text_gives_a_mapping_or_a_config_error(text: str, name: str) -> None:
    _mapping_or_refused(text.encode("utf-8", "surrogatepass"), name)


@bounded()
@given(_json_values(), st.sampled_from(["f.yaml", "f.json"]), st.data())
def test_yaml_and_json_of_any_value_give_a_mapping_or_a_config_error(
    value: Any, name: str, data: st.DataObject
) -> None:
    if name.endswith(".json"):
        text = json.dumps(value)
    else:
        style = data.draw(st.sampled_from([None, True, False]), label="flow style")
        text = yaml.safe_dump(value, default_flow_style=style, allow_unicode=True)
    # A random cut as well: half a document
    cut = data.draw(st.integers(min_value=0, max_value=len(text)), label="cut")
    for part in (text, text[:cut]):
        _mapping_or_refused(part.encode("utf-8", "surrogatepass"), name)


YAML_TOKENS = ["!!bool ", "!!int ", "!!float ", "!!binary ", "!!str ", "!!map ", "!!seq ",
               "!x ", "! ", "&a ", "&b ", "*a", "*b", "<<: ", "[", "]", "{", "}", ": ", ", ",
               "- ", "\n", "\n  ", " ", "a", "models", "1", "1:2", "0x1F", "1_0", ".inf",
               ".nan", "~", "yes", "2024-01-01", "'", '"', "\\ud800", "# c", "---\n", "? ",
               "|\n  x", "%YAML 1.1\n---\n", "\t"]


@bounded(400)
@given(st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join))
def test_yaml_made_of_tags_anchors_and_flow_gives_a_mapping_or_a_config_error(
    text: str
) -> None:
    _mapping_or_refused(text.encode("utf-8"), "f.yaml")
