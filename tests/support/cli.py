"""Running the `llm-router` CLI in-process (typer's CliRunner)."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

from cli import register

app = register()  # every command registered


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def as_json(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)
