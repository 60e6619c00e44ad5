"""The config CLI end to end against a real Redis (in-process via CliRunner, and once as
the installed `llm-router` command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from routing.config.defaults import default_document
from tests.support.cli import as_json, run
from tests.support.design import DESIGN_ROUTES, LARGE_CONTEXT_ROUTE

LLM_ROUTER = Path(sys.executable).with_name("llm-router")


@pytest.fixture
def initialized(env: dict[str, str]) -> dict[str, str]:
    assert as_json("config", "init")["version"] == 1
    return env


def test_init_show_and_init_again(initialized: dict[str, str]) -> None:
    shown = as_json("config", "show")
    assert shown["version"] == 1
    assert shown["model_keys"]["monitoring"]["model"] == DESIGN_ROUTES["monitoring"][0]
    again = run("config", "init", code=1)
    assert "already stored (version 1)" in again.stderr and "Traceback" not in again.stderr
    # Replacing it with the same document writes nothing; with another, a new version
    forced = as_json("config", "init", "--force")
    assert (forced["version"], forced["unchanged"]) == (1, True)
    as_json("config", "set", "lookup", "gpt-4o")
    assert as_json("config", "init", "--force")["version"] == 3


def test_a_write_that_changes_nothing_keeps_the_version(
    initialized: dict[str, str], tmp_path: Path
) -> None:
    # `config set` to the model the key already has
    key_model = DESIGN_ROUTES["monitoring"][0]
    same = run("config", "set", "monitoring", key_model)
    assert "unchanged (version 1)" in same.stdout
    assert as_json("config", "set", "monitoring", key_model)["unchanged"] is True
    # re-applying an unchanged file (as `config show --json` printed it, or the YAML)
    shown = tmp_path / "shown.json"
    shown.write_text(run("config", "show", "--json").stdout)
    out = as_json("config", "apply", str(shown))
    assert (out["version"], out["unchanged"], out["entry"]) == (1, True, None)
    yaml_file = tmp_path / "same.yaml"
    yaml_file.write_text(yaml.safe_dump(default_document()))
    assert "unchanged (version 1)" in run("config", "apply", str(yaml_file)).stdout
    # rolling back to the version that is current
    assert as_json("config", "rollback", "1")["unchanged"] is True
    # nothing was written: one version, one history entry
    assert as_json("config", "show")["version"] == 1
    assert [e["version"] for e in as_json("config", "history")["entries"]] == [1]
    # and a real change still is one
    changed = as_json("config", "set", "monitoring", "gpt-4o")
    assert (changed["version"], changed["unchanged"]) == (2, False)
    assert "model_keys.monitoring.model" in changed["entry"]["changes"]


def test_route_json_has_the_contract_fields(initialized: dict[str, str], tmp_path: Path) -> None:
    out = as_json("route", "code_review", "--input-tokens", "49999")
    fields = {"model_key", "model", "tier", "queue", "rule", "fallbacks", "config_version"}
    assert fields <= set(out)
    assert (out["model"], out["queue"], out["rule"], out["config_version"]) == (
        *DESIGN_ROUTES["code_review"], "default", 1)
    prompt = tmp_path / "big.txt"
    prompt.write_text("x" * 200_000)
    big = as_json("route", "code_review", "--prompt-file", str(prompt))
    assert (big["model"], big["queue"], big["rule"]) == LARGE_CONTEXT_ROUTE
    huge = tmp_path / "huge.txt"
    huge.write_text("x" * 6_000_000)  # no model of the key holds it: refused input
    assert "do not fit the context window" in run(
        "route", "code_review", "--prompt-file", str(huge), code=2).stderr
    unknown = run("route", "summarize", code=2)
    assert "known model keys: classification" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_set_history_diff_rollback(initialized: dict[str, str]) -> None:
    assert as_json("config", "set", "code_review", "gpt-4o")["version"] == 2
    assert as_json("route", "code_review")["model"] == "gpt-4o"
    entries = as_json("config", "history")["entries"]
    assert [e["version"] for e in entries] == [2, 1]
    assert "model_keys.code_review.model" in entries[0]["changes"]
    changes = as_json("config", "diff")
    assert (changes["from"], changes["to"]) == (1, 2)
    assert {"path": "model_keys.code_review.model", "old": "claude-sonnet-4-6",
            "new": "gpt-4o"} in changes["changes"]
    assert as_json("config", "diff", "2", "1")["changes"][0]["new"] is not None
    assert as_json("config", "rollback", "1")["version"] == 3
    assert as_json("route", "code_review")["model"] == "claude-sonnet-4-6"
    assert as_json("config", "diff", "1", "3")["changes"] == []
    assert "rollback to version 1" in run("config", "history").stdout


def test_trials_and_batch_of_the_wrong_shape_are_refused_with_what_to_write(
    initialized: dict[str, str], tmp_path: Path
) -> None:
    # three mistakes, as written by hand: a trial without its list dash, a percentage,
    # and `batch: yes`
    doc = default_document()
    doc["model_keys"]["classification"]["trials"] = {
        "candidate": "kimi-for-coding", "sample": 0.05, "daily_budget_usd": 1}
    doc["model_keys"]["lookup"]["trials"] = [
        {"candidate": "kimi-for-coding", "sample": "5%", "daily_budget_usd": 1}]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc).replace(
        "batch:\n      max_wait_seconds: 3600", "batch: yes"))
    assert "batch: yes" in bad.read_text()
    refused = run("config", "apply", str(bad), code=2).stderr
    assert ("model_keys.classification.trials: trials are a list, got a mapping: write each "
            "trial as a list item (`- candidate: kimi-for-coding`") in refused
    assert ("model_keys.lookup.trials[0].sample: '5%' is a percentage, not a share in "
            "(0, 1]: give the share of the key's successful calls to replay, e.g. 0.05 for "
            "5%") in refused
    assert ("model_keys.content_curation.batch: batch is a mapping such as "
            "{max_wait_seconds: 3600}") in refused
    assert as_json("config", "show")["version"] == 1


def test_refused_apply_exits_2_names_the_path_and_changes_nothing(
    initialized: dict[str, str], tmp_path: Path
) -> None:
    before = as_json("config", "show")
    doc = default_document()
    doc["model_keys"]["code_review"]["fallbacks"] = ["claude-sonnet-4-5", "gpt-5"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    refused = run("config", "apply", str(bad), code=2)
    assert "model_keys.code_review.fallbacks[1]: unknown model 'gpt-5'" in refused.stderr
    assert "Traceback" not in refused.stderr
    unpriced = run("config", "set", "monitoring", "gpt-5", code=2)
    assert "model_keys.monitoring.model: unknown model 'gpt-5'" in unpriced.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [unclosed")
    assert "not valid YAML" in run("config", "apply", str(broken), code=2).stderr
    assert as_json("config", "show") == before
    assert len(as_json("config", "history")["entries"]) == 1


def test_apply_with_a_stale_expected_version_exits_3(
    initialized: dict[str, str], tmp_path: Path
) -> None:
    doc = default_document()
    doc["models"]["gpt-4o"]["price"]["input"] = 2
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(doc))
    assert as_json("config", "apply", str(good), "--expect-version", "1")["version"] == 2
    conflict = run("config", "apply", str(good), "--expect-version", "1", code=3)
    assert "expected version 1 but the store holds version 2" in conflict.stderr
    assert as_json("config", "diff")["changes"] == [
        {"path": "models.gpt-4o.price.input", "old": "2.5", "new": "2"}]


def test_help_documents_the_exit_codes(env: dict[str, str]) -> None:
    text = run("config", "apply", "--help").stdout
    assert "2 refused input or config" in " ".join(text.split())
    assert "3 version conflict" in " ".join(text.split())
    # Commands that only read document no version conflict
    for command in (["plan"], ["route"], ["cost", "estimate"]):
        text = " ".join(run(*command, "--help").stdout.split())
        assert "2 refused input (an unknown model key" in text, command
        assert "version conflict" not in text, command


def test_unreachable_redis_is_one_clean_message(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.settings import get_settings

    monkeypatch.setenv("LLM_ROUTER_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    get_settings.cache_clear()
    result = run("config", "show", code=1)
    assert "cannot reach Redis" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
    get_settings.cache_clear()


def test_the_installed_command(env: dict[str, str]) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(LLM_ROUTER), *args], capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=30)

    assert cli("config", "init").returncode == 0
    shown = cli("config", "show", "--json")
    assert json.loads(shown.stdout)["version"] == 1
    refused = cli("config", "set", "lookup", "gpt-5")
    assert refused.returncode == 2 and "unknown model 'gpt-5'" in refused.stderr
