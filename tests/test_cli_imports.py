"""The CLI is its own lazy layer: a command loads what it uses, not the worker stack.

Each command runs as a user runs it (a fresh interpreter); at exit the process lists the
top-level packages it imported. Reading the routing config needs Redis, pydantic and the
routing core, never Celery, a provider SDK, Prometheus or the demo's fakeredis.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

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
    ("prices", "check"),
    ("samples", "show", "code_review"),
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



def loaded_modules(env: dict[str, str], *args: str) -> set[str]:
    """Every module (full dotted names) `llm-router ARGS` loaded, run in a fresh process."""
    probe = PROBE.replace("{m.split('.')[0] for m in sys.modules}", "set(sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("LOADED "))
    return set(line.split()[1:])


@pytest.mark.parametrize("args", [
    ("config", "show"),
    ("config", "history"),  # --limit: an int with bounds, its default
    ("route", "code_review", "--json"),  # a str argument
    ("cost", "report"),
    ("budget", "show"),
    # plain decimal ints from the command line, a list[str], an Enum's default member
    ("cost", "estimate", "monitoring", "--runs-per-day", "48", "--input-tokens", "2000",
     "--output-tokens", "300"),
    ("plan", "--calls-per-day", "lookup=1000000", "--utilization", "0.5", "--days", "3"),
])
def test_a_plain_value_builds_no_type_adapter(env: dict[str, str],
                                              args: tuple[str, ...]) -> None:
    # typer builds a pydantic TypeAdapter for each value it coerces; a value not given
    # (None), or a plain str, int or float within its bounds, needs none (cli.main)
    as_json("config", "init")
    modules = loaded_modules(env, *args)
    assert "routing.config.store" in modules
    assert "typer._adapters" not in modules


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`llm-router ARGS` (cli.main) in a process of its own, with `env` over this one's."""
    return subprocess.run([sys.executable, "-m", "cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def stamped(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?", "<time>", text)


@pytest.mark.parametrize("args", [
    ("config", "history", "--limit", "0"),  # out of bounds: typer's adapter refuses it
    ("config", "history", "--limit", "1", "--json"),
    ("config", "history", "--json"),  # the default, within bounds
    ("route", "code_review", "--json"),
    ("route", "code_review", "--json", "--tokens", "-1"),
    ("route", "code_review", "--json", "--tokens", "120000"),
    ("cost", "report", "--json"),
    ("plan", "--calls-per-day", "lookup=1000000", "--json"),
    ("plan", "--calls-per-day", "lookup=1000000", "--calls-per-day", "drafting=5",
     "--utilization", "0.55", "--days", "400", "--latency-stat", "p95", "--json"),
    ("plan", "--calls-per-day", "lookup=1000000", "--days", "0", "--json"),  # below min
    ("plan", "--calls-per-day", "lookup=1000000", "--days", "401"),  # above max
    ("plan", "--calls-per-day", "lookup=1000000", "--days", "007", "--json"),  # the adapter
    ("plan", "--calls-per-day", "lookup=1000000", "--days", "1_0", "--json"),
    ("plan", "--calls-per-day", "lookup=1000000", "--utilization", "1e-1", "--json"),
    ("plan", "--calls-per-day", "lookup=1000000", "--utilization", "x", "--json"),
    ("cost", "estimate", "monitoring", "--runs-per-day", "48", "--input-tokens", "2000",
     "--output-tokens", "300", "--json"),
    ("cost", "estimate", "monitoring", "--runs-per-day", "-1", "--input-tokens", "0",
     "--output-tokens", "300", "--json"),
    ("cost", "estimate", "monitoring", "--runs-per-day", "99999999999999999999",
     "--input-tokens", "-0", "--output-tokens", "3.0", "--json"),
])
def test_the_command_coerces_as_typer_does(env: dict[str, str], args: tuple[str, ...]) -> None:
    # `llm-router` (cli.main) coerces plain values without typer's adapters; the same
    # arguments through typer alone (in this process, no main) give the same outcome
    from tests.support.cli import app

    as_json("config", "init")
    done = run_cli(env, *args)
    alone = CliRunner().invoke(app, list(args), env=env)
    assert done.returncode == alone.exit_code, (done.stderr, alone.stderr)
    if done.returncode == 0:  # the same document, up to when it was made
        assert stamped(done.stdout) == stamped(alone.stdout)
    else:
        assert done.stderr.splitlines()[-1] == alone.stderr.splitlines()[-1]


def test_the_history_loads_no_config_models(env: dict[str, str]) -> None:
    # the history is JSON entries: the config store loads the config's classes with the
    # first config it reads
    as_json("config", "init")
    modules = loaded_modules(env, "config", "history")
    assert "routing.config.store" in modules
    assert not modules & {"routing.config.models", "routing.config.defaults"}


@pytest.mark.parametrize("args", [("prices", "check"), ("review",)])
def test_the_bundled_catalog_loads_no_http_client(env: dict[str, str], tmp_path: Path,
                                                  args: tuple[str, ...]) -> None:
    # the catalog reads genai-prices' bundled data: its package __init__ (the updater and
    # its HTTP client) runs only for `--latest`
    as_json("config", "init")
    modules = loaded_modules({**env, "XDG_CACHE_HOME": str(tmp_path)}, *args)  # cache: cold
    assert "genai_prices.data" in modules
    assert not modules & {"genai_prices.update_prices", "httpx2", "httpx", "httpcore"}, \
        sorted(modules & {"genai_prices.update_prices", "httpx2", "httpx", "httpcore"})


@pytest.mark.parametrize("args", [("prices", "check"), ("review",)])
def test_the_catalogs_kept_answers_load_no_catalog(env: dict[str, str], tmp_path: Path,
                                                   args: tuple[str, ...]) -> None:
    # once a run has kept the catalog's answers for the config's models
    # (routing.catalog.cache), the next reads them without genai-prices; same output
    as_json("config", "init")
    cached = {**env, "XDG_CACHE_HOME": str(tmp_path)}
    cold = run_cli(cached, *args, "--json")
    modules = loaded_modules(cached, *args)
    assert "routing.catalog.cache" in modules
    assert not {m for m in modules if m.split(".")[0] == "genai_prices"
                or m == "routing.catalog.lookup"}
    warm = run_cli(cached, *args, "--json")
    assert (warm.returncode, stamped(warm.stdout)) == (cold.returncode, stamped(cold.stdout))


@pytest.mark.parametrize("args", [
    ("route", "code_review", "--json"),
    ("config", "show"),
    ("config", "history"),
    ("config", "diff", "1", "1"),
    ("cost", "estimate", "monitoring", "--runs-per-day", "48", "--input-tokens", "2000",
     "--output-tokens", "300"),
    ("cost", "report"),
    ("budget", "show"),
    ("review",),
    ("plan", "--calls-per-day", "lookup=1000000"),
    ("prices", "check"),
    ("samples", "show", "code_review"),
])
def test_a_plain_environment_builds_no_settings_model(env: dict[str, str], tmp_path: Path,
                                                      args: tuple[str, ...]) -> None:
    # the settings a command reads come straight from an environment whose every
    # variable is plainly valid (workers.plain_settings), and the stored config is built
    # without its pydantic schema (routing.config.load): a read loads no pydantic model.
    # The price catalog's answers are kept from a first run, as after any first run (a
    # cold cache loads genai-prices, and with it pydantic: the tests above).
    as_json("config", "init")
    env = {**env, "XDG_CACHE_HOME": str(tmp_path)}
    run_cli(env, *args)
    modules = loaded_modules(env, *args)
    assert "workers.plain_settings" in modules
    assert "workers.settings" not in modules
    assert not {"pydantic.main", "routing.config.schema"} & modules


def test_a_connection_reads_no_distribution_metadata(env: dict[str, str]) -> None:
    # redis-py looks its own version up in the installed metadata (the email parser, a
    # scan of the path) for each first connection unless given it (routing.connect)
    as_json("config", "init")
    modules = loaded_modules(env, "route", "code_review", "--json")
    assert "routing.connect" in modules
    assert "email.feedparser" not in modules


def test_a_read_loads_no_config_diff(env: dict[str, str]) -> None:
    # the store compares documents only when it writes one (`config diff` loads it itself)
    as_json("config", "init")
    modules = loaded_modules(env, "config", "show")
    assert "routing.config.store" in modules
    assert "routing.config.diff" not in modules
