"""docs/cli.md is generated from the commands (`python -m cli.reference`): it must be up to
date and cover every command; `llm-router --version` prints the installed version."""

from __future__ import annotations

import difflib
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import typer

from cli import register
from cli.context import EXIT_CODES
from cli.reference import COMMAND, reference
from tests.support.cli import run

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"


def test_docs_cli_md_is_up_to_date() -> None:
    fresh = reference()
    stored = DOC.read_text("utf-8") if DOC.exists() else ""
    if stored != fresh:
        diff = "".join(difflib.unified_diff(stored.splitlines(True), fresh.splitlines(True),
                                            "docs/cli.md", "generated", n=1))
        raise AssertionError(f"docs/cli.md is stale; refresh it with `{COMMAND}`\n{diff[:3000]}")


def test_the_reference_says_how_to_regenerate_it_at_its_top() -> None:
    assert COMMAND in DOC.read_text("utf-8").split("\n", 1)[0]


def test_the_reference_covers_every_command_option_and_exit_code() -> None:
    text = DOC.read_text("utf-8")
    root = typer.main.get_command(register())

    def walk(command: typer.core.TyperGroup | typer.core.TyperCommand, path: str) -> None:
        assert f"## `{path}`" in text, path
        section = text.split(f"## `{path}`\n", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            # An argument given a metavar (`batches cancel ID`) is listed by it.
            listed_by_metavar = param.param_type_name == "argument" and param.metavar
            names = [param.metavar] if listed_by_metavar else param.opts
            for opt in names:
                assert f"`{opt}" in section or f" {opt}" in section, (path, opt)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(root, "llm-router")
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning.split(':')[0]}" in text


def test_version_prints_the_installed_version() -> None:
    expected = f"llm-router {version('llm-router')}\n"
    assert run("--version").stdout == expected
    done = subprocess.run([sys.executable, "-m", "cli", "--version"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert (done.returncode, done.stdout) == (0, expected), done.stderr
