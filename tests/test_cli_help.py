"""`--help` of every command and group: each command is listed with one complete short
sentence, never a sentence cut off with '...', whatever the terminal width."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.support.cli import app

SHORT_HELP_MAX = 45  # click's default limit for the command list


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))


ROOT = typer.main.get_command(app)
ALL = list(commands(ROOT))
GROUPS = [(), *(path for path, command in ALL if hasattr(command, "commands"))]


def test_every_command_is_found() -> None:
    names = {" ".join(path) for path, _ in ALL}
    assert {"route", "worker", "metrics", "demo", "config set", "cost report",
            "budget set"} <= names


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in ALL])
def test_each_command_has_one_short_complete_sentence(path: str) -> None:
    command = dict(ALL)[tuple(path.split())]
    short = command.get_short_help_str(limit=SHORT_HELP_MAX)
    assert short, f"{path}: no help"
    assert not short.endswith("..."), f"{path}: cut off: {short!r}"
    assert short.endswith(".") and short[0].isupper(), f"{path}: {short!r}"
    assert len(short) < SHORT_HELP_MAX, f"{path}: {len(short)} characters: {short!r}"
    assert short.count(". ") == 0, f"{path}: more than one sentence: {short!r}"


@pytest.mark.parametrize("group", [" ".join(g) for g in GROUPS])
@pytest.mark.parametrize("width", [60, 80, 120])
def test_group_help_lists_commands_without_cutting_them(group: str, width: int) -> None:
    result = CliRunner().invoke(app, [*group.split(), "--help"], terminal_width=width)
    assert result.exit_code == 0, result.output
    listing = result.stdout.split("Commands:", 1)[1]
    assert "..." not in listing, listing
