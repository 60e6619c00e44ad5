"""`--json` commands print exactly one JSON document on stdout, also when they fail:
`{"error": message, "exit_code": N}` (the message is on stderr too, as without --json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from routing.config.defaults import default_document
from tests.support.celery import ROOT
from tests.support.cli import as_json, run


def error_of(*args: str, code: int) -> dict[str, Any]:
    """The one JSON document a failing `--json` command prints."""
    result = run(*args, "--json", code=code)
    document: dict[str, Any] = json.loads(result.stdout)  # one document, nothing else
    assert document["exit_code"] == code
    assert f"error: {document['error']}" in result.stderr
    return document


def test_commands_fail_with_one_json_document(env: dict[str, str], tmp_path: Path) -> None:
    # Nothing stored yet: exit 1, and the document says what to do
    assert "config init" in error_of("config", "show", code=1)["error"]
    assert "config init" in error_of("route", "code_review", code=1)["error"]
    as_json("config", "init")
    # Unknown model key: refused input, as everywhere (plan, budget set, config set)
    assert "unknown model key 'summarize'" in error_of("route", "summarize", code=2)["error"]
    assert "unknown model key 'summarize'" in error_of(
        "cost", "estimate", "summarize", "--runs-per-day", "1", "--input-tokens", "1",
        "--output-tokens", "1", code=2)["error"]
    assert "unknown model key 'summarize'" in error_of(
        "plan", "--calls-per-day", "summarize=5", code=2)["error"]
    assert "unknown model key 'summarize'" in error_of(
        "budget", "set", "--model-key", "summarize", "--daily-usd", "1", code=2)["error"]
    # Refused input
    assert "--daily-usd must be a number" in error_of(
        "budget", "set", "--daily-usd", "lots", code=2)["error"]
    assert "smallest budget" in error_of(
        "budget", "set", "--daily-usd", "0.0000001", code=2)["error"]
    # A refused config: each problem also as path and reason
    doc = default_document()
    doc["model_keys"]["code_review"]["fallbacks"] = ["gpt-5"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    refused = error_of("config", "apply", str(bad), code=2)
    problem = refused["problems"][0]
    assert problem["path"] == "model_keys.code_review.fallbacks[0]"
    assert problem["reason"].startswith("unknown model 'gpt-5'")
    # A version conflict
    assert "expected version 7" in error_of(
        "config", "set", "lookup", "gpt-4o", "--expect-version", "7", code=3)["error"]
    # Without --json a failure prints nothing on stdout (as before), even after a --json run
    plain = run("route", "summarize", code=2)
    assert plain.stdout == "" and "unknown model key" in plain.stderr


def test_unreachable_redis_under_json(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.settings import get_settings

    monkeypatch.setenv("LLM_ROUTER_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    try:
        assert "cannot reach Redis" in error_of("budget", "show", code=1)["error"]
        assert "cannot reach Redis" in error_of("cost", "report", code=1)["error"]
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("args", "says"), [
    (["route", "code_review", "--input-tokens", "-5"], "--input-tokens"),  # a bad value
    (["config", "set", "lookup"], "Missing argument"),  # a missing argument
    (["route", "code_review", "--no-such-option"], "No such option"),  # an unknown option
])
def test_usage_errors_under_json_are_one_document_too(
    env: dict[str, str], args: list[str], says: str
) -> None:
    # As a user runs it (`llm-router ...`: usage errors are handled by the entry point)
    proc = subprocess.run([sys.executable, "-m", "cli", *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert proc.returncode == 2, proc.stderr
    document = json.loads(proc.stdout)
    assert document["exit_code"] == 2 and says in document["error"]
    assert says in proc.stderr
    # and without --json, stdout stays empty
    plain = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, **env})
    assert (plain.returncode, plain.stdout) == (2, "")
