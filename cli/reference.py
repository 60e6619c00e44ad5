"""The CLI reference, docs/cli.md, generated from the commands themselves:

    python -m cli.reference > docs/cli.md

Walks the Typer app's command tree (every group and command, as `llm-router --help` and
each command's `--help` show them): usage, help text, every argument and option with the
help line `--help` prints for it (type, default, bounds), the epilog; and the exit codes
(`cli.context.EXIT_CODES`). tests/test_cli_reference.py fails when the file is stale.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import typer

from cli import register
from cli.context import EXIT_CODES

COMMAND = "python -m cli.reference > docs/cli.md"
PROG = "llm-router"


def _text(help_text: str | None) -> str:
    """A help text as Markdown: its paragraphs as they are, its indented lines (examples)
    as a code block (Click's `\\b` no-rewrap markers dropped)."""
    out: list[str] = []
    in_block = False
    for line in inspect.cleandoc(help_text or "").split("\n"):
        if line.strip() == "\b":
            continue
        indented = line.startswith((" ", "\t")) and bool(line.strip())
        if indented != in_block:
            out.extend(["", "```"] if indented else ["```", ""])
            in_block = indented
        out.append(line.strip() if indented else line)
    if in_block:
        out.append("```")
    return "\n".join(out).strip()


def _cell(text: str) -> str:
    """One table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _commands(command: Any, ctx: Any) -> Iterator[tuple[Any, Any]]:
    """(command, its context) for `command` and everything under it, depth first, each
    group's commands in alphabetical order."""
    yield command, ctx
    if hasattr(command, "list_commands"):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _commands(sub, type(ctx)(sub, info_name=name, parent=ctx))


def _section(command: Any, ctx: Any) -> Iterator[str]:
    yield f"## `{ctx.command_path}`"
    yield ""
    if command.help:
        yield _text(command.help)
        yield ""
    yield "```"
    yield command.get_usage(ctx).removeprefix("Usage: ")
    yield "```"
    yield ""
    rows = [record for param in command.params if not getattr(param, "hidden", False)
            for record in [param.get_help_record(ctx)] if record is not None]
    if rows:
        yield "| argument or option | description |"
        yield "|---|---|"
        for name, description in rows:
            yield f"| `{_cell(name)}` | {_cell(description)} |"
        yield ""
    if hasattr(command, "list_commands"):
        subs = [(name, command.get_command(ctx, name))
                for name in sorted(command.list_commands(ctx))]
        yield "| command | what it does |"
        yield "|---|---|"
        for name, sub in subs:
            if sub is not None and not sub.hidden:
                anchor = f"{ctx.command_path} {name}".replace(" ", "-")
                summary = sub.get_short_help_str(limit=200)
                yield f"| [`{name}`](#{anchor}) | {_cell(summary)} |"
        yield ""
    if command.epilog:
        yield _text(command.epilog)
        yield ""


def reference() -> str:
    root = typer.main.get_command(register())
    ctx = typer.Context(root, info_name=PROG)
    lines = [
        f"<!-- Generated from the commands by `{COMMAND}`;",
        "     tests/test_cli_reference.py fails when it is stale. Do not edit it by hand. -->",
        "",
        "# CLI reference",
        "",
        f"Generated from the commands themselves by `{COMMAND}`; "
        "`tests/test_cli_reference.py` fails when it is stale. Every command is also "
        f"`python -m cli ...`, and prints this help with `--help`.",
        "",
        "## Exit codes",
        "",
        "| code | meaning |",
        "|---|---|",
        *(f"| {code} | {_cell(meaning)} |" for code, meaning in EXIT_CODES.items()),
        "",
        "`--json`, on every command that has it, prints exactly one JSON document on stdout, "
        'also when the command fails: `{"error": "...", "exit_code": N}` (with `problems`, '
        "each `path` and `reason`, for a refused config; `variables` for a refused "
        "environment variable); the message goes to stderr as without `--json`.",
        "",
    ]
    for command, command_ctx in _commands(root, ctx):
        lines.extend(_section(command, command_ctx))
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(reference(), end="")
