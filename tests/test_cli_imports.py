"""The CLI is its own lazy layer: a command loads what it uses, not the worker stack.

Each command runs as a user runs it (a fresh interpreter); at exit the process lists the
top-level packages it imported. Reading the routing config needs Redis, pydantic and the
routing core, never Celery, a provider SDK, Prometheus or the demo's fakeredis.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import as_json

PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('LOADED ' + ' '.join(sorted("
    "{m.split('.')[0] for m in sys.modules})) + '\\n'))\n"
    "from cli import main\n"
    "sys.argv = ['llm-router', *sys.argv[1:]]\n"
    "main()\n"
)
WORKER_STACK = {"celery", "kombu", "anthropic", "openai", "httpx", "prometheus_client",
                "fakeredis", "billiard", "rich"}


def loaded(env: dict[str, str], *args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("LOADED "))
    return set(line.split()[1:])


@pytest.mark.parametrize("args", [
    ("route", "code_review", "--json"),
    ("route", "code_review"),
    ("config", "show"),
    ("config", "show", "--json"),
    ("cost", "estimate", "monitoring", "--runs-per-day", "48", "--input-tokens", "2000",
     "--output-tokens", "300"),
    ("budget", "show"),
    ("cost", "report", "--json"),
    ("cost", "report"),
    ("config", "history"),
    ("config", "diff", "1", "1"),
    ("review",),
    ("review", "--json"),
    ("plan", "--calls-per-day", "lookup=1000000"),
    ("--version",),
    ("--help",),
    ("worker", "--help"),
])
def test_a_command_loads_no_worker_stack(env: dict[str, str], args: tuple[str, ...]) -> None:
    as_json("config", "init")
    modules = loaded(env, *args)
    assert not modules & WORKER_STACK, sorted(modules & WORKER_STACK)
    assert "routing" in modules or args[-1] in ("--help", "--version")


def test_a_worker_dry_run_loads_no_celery(env: dict[str, str]) -> None:
    as_json("config", "init")
    modules = loaded(env, "worker", "--tier", "haiku", "--dry-run")
    # a dry run prints the command without starting Celery
    assert "celery" not in modules


def test_the_html_report_loads_no_worker_stack(env: dict[str, str], tmp_path: Path) -> None:
    as_json("config", "init")
    page = tmp_path / "report.html"
    modules = loaded(env, "cost", "report", "--html", str(page))
    assert not modules & WORKER_STACK, sorted(modules & WORKER_STACK)
    assert page.read_text("utf-8").startswith("<!doctype html>")


@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_help_and_version_load_neither_redis_nor_pydantic(env: dict[str, str],
                                                          args: tuple[str, ...]) -> None:
    # `--version` registers no command; `--help` registers every one, and no command
    # module imports Redis, pydantic or a store at import time (only when it runs)
    modules = loaded(env, *args)
    assert not modules & {"redis", "pydantic", "pydantic_core", "yaml"}, sorted(modules)



def test_an_option_not_given_builds_no_type_adapter(env: dict[str, str]) -> None:
    # typer builds a pydantic TypeAdapter for each option value it coerces; options not
    # given (None) need none, so a command whose options are flags or unset loads no
    # typer adapter
    as_json("config", "init")
    probe = PROBE.replace("{m.split('.')[0] for m in sys.modules}", "set(sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, "config", "show"],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("LOADED "))
    modules = set(line.split()[1:])
    assert "routing.config.models" in modules
    assert "typer._adapters" not in modules
