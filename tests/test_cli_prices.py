"""`llm-router prices check|update` against a real Redis: the old Opus price is flagged
(exit 4), `update` writes the catalog's prices as a new version by `prices`, and
`config rollback` undoes it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from routing.config.defaults import default_document
from tests.support.cli import as_json, run

OLD_OPUS = {"input": 15, "output": 75, "cache_read": 1.5, "cache_write": 18.75,
            "batch_discount": 0.5}


@pytest.fixture
def old_opus(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    doc = copy.deepcopy(default_document())
    doc["models"]["claude-opus-4-6"]["price"] = OLD_OPUS
    file = tmp_path / "old.json"
    file.write_text(json.dumps(doc))
    assert as_json("config", "init", "--file", str(file))["version"] == 1
    return env


def test_check_flags_the_old_opus_price_and_update_fixes_it_as_a_new_version(
        old_opus: dict[str, str]) -> None:
    checked = json.loads(run("prices", "check", "--json", code=4).stdout)
    assert checked["drifted"] == ["claude-opus-4-6"]
    assert checked["unknown"] == ["kimi-for-coding"]
    opus = next(m for m in checked["models"] if m["model"] == "claude-opus-4-6")
    fields = {f["field"]: (f["config"], f["catalog"], f["ratio"]) for f in opus["fields"]}
    assert fields == {"input": ("15", "5", 3.0), "output": ("75", "25", 3.0),
                      "cache_read": ("1.5", "0.5", 3.0), "cache_write": ("18.75", "6.25", 3.0)}
    assert opus["drift_ratio"] == 3.0
    text = run("prices", "check", code=4).stdout
    assert "claude-opus-4-6  input" in text and "3.000x" in text
    assert "llm-router prices update claude-opus-4-6 --expect-version 1" in text
    assert "verified up to 2026-11-19" in text

    # A stale version is refused and writes nothing.
    assert "expected version 7" in run("prices", "update", "--expect-version", "7",
                                       code=3).stderr
    updated = as_json("prices", "update", "claude-opus-4-6", "--expect-version", "1")
    assert (updated["version"], updated["changed"]) == (2, ["claude-opus-4-6"])
    entry = updated["entry"]
    assert entry["author"] == "prices"
    assert entry["summary"].startswith("prices of claude-opus-4-6 from the catalog: "
                                       "genai-prices 0.2.5")
    assert sorted(entry["changes"]) == [f"models.claude-opus-4-6.price.{f}" for f in
                                        ("cache_read", "cache_write", "input", "output")]
    assert as_json("config", "show")["models"]["claude-opus-4-6"]["price"]["input"] == "5"
    assert "agree: " in run("prices", "check").stdout  # exit 0
    again = run("prices", "update")
    assert "unchanged (version 2)" in again.stdout
    assert "not in the catalog (explicit prices kept): kimi-for-coding" in again.stdout

    # rollback undoes it
    as_json("config", "rollback", "1")
    assert json.loads(run("prices", "check", "--json", code=4).stdout)["drifted"] == [
        "claude-opus-4-6"]


def test_update_refuses_a_model_the_catalog_or_the_config_does_not_know(
        old_opus: dict[str, str]) -> None:
    refused = run("prices", "update", "kimi-for-coding", code=2)
    assert "models.kimi-for-coding.price" in refused.stderr
    assert "catalog_id" in refused.stderr
    unknown = run("prices", "update", "no-such-model", code=2)
    assert "models.no-such-model: not a model of the config" in unknown.stderr
    assert as_json("config", "show")["version"] == 1  # nothing written


def test_check_without_a_config_is_one_clean_error(env: dict[str, str]) -> None:
    out = run("prices", "check", code=1)
    assert "Traceback" not in out.stderr and "config init" in out.stderr
