"""A malformed environment variable, a bad LLM_ROUTER_REDIS_URL or a Redis that refuses
the connection: every command says so in one line, naming the variable and the fix, with
the exit code of its kind (2 a refused variable or URL, 1 a Redis that does not serve us),
and under `--json` one error document on stdout, as every other failure does.

The commands run as a user runs them: `python -m cli` in a fresh interpreter (the settings
are read once per process), and `celery -A workers.app` for the worker and Beat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.celery import ROOT
from tests.support.cli import as_json
from workers.errors import SettingsError

CASES = [
    # (variable, value, exit code, what the message must say)
    ("LLM_ROUTER_REQUEST_TIMEOUT", "abc", 2,
     ["LLM_ROUTER_REQUEST_TIMEOUT='abc'", "valid number", "unset it for the default (120.0)"]),
    ("LLM_ROUTER_REQUEST_TIMEOUT", "inf", 2,
     ["LLM_ROUTER_REQUEST_TIMEOUT='inf'", "finite number"]),
    ("LLM_ROUTER_REDIS_URL", "notaurl", 2,
     ["LLM_ROUTER_REDIS_URL='notaurl'", "scheme", "expected redis://"]),
    ("LLM_ROUTER_REDIS_URL", "redis://:s3cret@127.0.0.1:abc/0", 2,
     ["LLM_ROUTER_REDIS_URL='redis://:***@127.0.0.1:abc/0'", "'abc'", "expected redis://"]),
    ("LLM_ROUTER_REDIS_URL", "redis+cluster://127.0.0.1:x", 2,
     ["LLM_ROUTER_REDIS_URL", "port 'x'", "not a number"]),
    ("LLM_ROUTER_REDIS_URL", "redis://127.0.0.1:6379/99", 1,
     ["Redis at 127.0.0.1:6379/99 refused", "DB index is out of range",
      "check LLM_ROUTER_REDIS_URL"]),
    ("LLM_ROUTER_REDIS_URL", "redis://127.0.0.1:1/0", 1,
     ["cannot reach Redis at 127.0.0.1:1", "check LLM_ROUTER_REDIS_URL"]),
    ("LLM_ROUTER_NAMESPACE", "a}b", 2,
     ["LLM_ROUTER_NAMESPACE='a}b'", "only letters, digits", "unset it for the default (llmr)"]),
    ("LLM_ROUTER_PROVIDER_MODE", "fake", 2,
     ["LLM_ROUTER_PROVIDER_MODE='fake'", "'live' or 'simulated'"]),
]
COMMANDS = [
    ("route", "lookup"),
    ("config", "show"),
    ("budget", "show"),
    ("cost", "report"),
    ("cost", "estimate", "lookup", "--runs-per-day", "1", "--input-tokens", "10",
     "--output-tokens", "10"),
    ("review",),
    ("plan", "--calls-per-day", "lookup=5"),
]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(("variable", "value", "code", "says"), CASES,
                         ids=[f"{v}={x}" for v, x, _, _ in CASES])
def test_a_bad_variable_is_one_line_naming_it(
    env: dict[str, str], variable: str, value: str, code: int, says: list[str]
) -> None:
    as_json("config", "init")
    bad = {**env, variable: value}
    # Under --json: one document on stdout, the same message on stderr
    proc = cli(bad, "route", "lookup", "--json")
    assert proc.returncode == code, proc.stderr
    document = json.loads(proc.stdout)
    assert document["exit_code"] == code
    assert one_line_error(proc.stderr) == f"error: {document['error']}"
    for part in says:
        assert part in document["error"]
    assert "s3cret" not in proc.stdout + proc.stderr
    if code == 2:
        assert document["variables"] == [variable]
    # Without --json: the one line, nothing on stdout
    plain = cli(bad, "route", "lookup")
    assert (plain.returncode, plain.stdout) == (code, "")
    assert one_line_error(plain.stderr) == f"error: {document['error']}"


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:2]) for a in COMMANDS])
def test_every_command_refuses_a_bad_variable_the_same_way(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    proc = cli({**env, "LLM_ROUTER_REQUEST_TIMEOUT": "abc"}, *args, "--json")
    assert proc.returncode == 2, proc.stderr
    assert "LLM_ROUTER_REQUEST_TIMEOUT='abc'" in json.loads(proc.stdout)["error"]
    one_line_error(proc.stderr)


def test_metrics_worker_and_flower_refuse_a_bad_variable_in_one_line(env: dict[str, str]) -> None:
    bad = {**env, "LLM_ROUTER_NAMESPACE": "a}b", "FLOWER_BASIC_AUTH": "ops:pw"}
    for args in (("metrics", "--once"), ("worker", "--tier", "haiku"), ("flower",)):
        proc = cli(bad, *args)
        assert (proc.returncode, proc.stdout) == (2, ""), (args, proc.stderr)
        assert "LLM_ROUTER_NAMESPACE='a}b'" in one_line_error(proc.stderr)


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_celery_refuses_a_bad_variable_in_one_line(env: dict[str, str], command: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.app", command],
        cwd=ROOT, env={**os.environ, **env, "LLM_ROUTER_RETRY_MAX": "-1"},
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("Error: LLM_ROUTER_RETRY_MAX='-1': ")
    assert "greater than or equal to 0" in line and "unset it for the default (60.0)" in line


def test_a_program_using_the_settings_gets_a_settings_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.settings import get_settings

    monkeypatch.setenv("LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS", "9")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as refused:
            get_settings()
    finally:
        monkeypatch.delenv("LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS")
        get_settings.cache_clear()
    # A rule across variables names both and the fix
    assert "RENEW_SECONDS=9 is too long" in str(refused.value)
    assert refused.value.variables == ["LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS",
                                       "LLM_ROUTER_BROKER_LEASE_SECONDS"]


def test_celery_refuses_a_cluster_url_without_a_broker_in_one_line(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.app", "worker"], cwd=ROOT,
        env={**os.environ, **env, "LLM_ROUTER_REDIS_URL": "redis+cluster://:pw@127.0.0.1:7000",
             "LLM_ROUTER_BROKER_URL": "", "LLM_ROUTER_RESULT_BACKEND": ""},
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("Error: LLM_ROUTER_REDIS_URL (redis+cluster://:***@127.0.0.1:7000)")
    assert "set LLM_ROUTER_BROKER_URL and LLM_ROUTER_RESULT_BACKEND" in line
