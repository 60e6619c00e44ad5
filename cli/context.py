"""What every command needs: the store of this deployment, output helpers, error exits.

Exit codes: 0 ok, 1 an operational error (Redis unreachable or refusing, no config,
unknown version), 2 a refused config or bad input (an unknown model key, a prompt no
model of the key can hold, an environment variable the settings refuse, a malformed
LLM_ROUTER_REDIS_URL), 3 a version conflict
(someone else wrote first), 4 a check that ran and found a difference (`prices check`:
a price drifts from the catalog), 5 a reconciliation gap (`cost reconcile`: the ledger and
a provider's bill differ beyond tolerance).

`--json` (`JsonOpt`) prints exactly one JSON document on stdout, also when the command
fails: `fail` then prints `{"error": message, "exit_code": N}` (besides the message on
stderr). The option's callback records that it was given (each invocation starts from
"not given": `cli.main`'s root callback), so `fail` knows without each command passing it.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from routing.errors import (
    ConfigError,
    PromptTooLargeError,
    RedisUrlError,
    RoutingError,
    UnknownModelKeyError,
    VersionConflictError,
)
from workers.errors import SettingsError

if TYPE_CHECKING:
    from routing.config.store import ConfigStore
    from workers.plain_settings import CommandSettings

EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_CONFLICT = 3
# A check that ran and found a difference (`prices check`: the config against the catalog).
EXIT_DRIFT = 4
# What each exit code means, for the CLI reference (docs/cli.md).
EXIT_CODES: dict[int, str] = {
    0: "done (also a write that changes nothing: it prints `unchanged (version N)`)",
    EXIT_ERROR: "an operational error: Redis unreachable or refusing, no config stored, an "
                "unknown version, nothing to act on",
    EXIT_INVALID: "refused input or config, nothing changed: an unknown model key, a bad "
                  "option value, an environment variable the settings refuse, a refused "
                  "config (each problem printed as `path: reason` on stderr)",
    EXIT_CONFLICT: "a version conflict: someone else wrote since the version given to "
                   "`--expect-version`; nothing stored",
    EXIT_DRIFT: "a check that ran and found a difference: `prices check` when a price in "
                "the config drifts from the price catalog",
}
EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 Redis unreachable or nothing to act on; 2 refused input or config "
    "(an unknown model key, a bad value; each config problem printed as 'path: reason' on "
    "stderr; nothing stored); 3 version conflict (someone else wrote first; nothing stored)."
)
# Of the commands that only read (no version to conflict with).
EXIT_CODES_READ_HELP = (
    "Exit codes: 0 done; 1 Redis unreachable or nothing to act on; 2 refused input (an "
    "unknown model key, a bad value)."
)
# Whether the command running in this process was given --json.
_invocation = {"json": False}


def json_given(value: bool) -> bool:
    """Record whether this invocation's command was given `--json` (the option's callback)."""
    _invocation["json"] = value
    return value


def json_option(help: str = "Print one JSON document on stdout (also on failure).") -> Any:
    """The `--json` option of every command (eager: recorded before other options are
    checked, so that their errors are JSON documents too)."""
    return typer.Option("--json", help=help, callback=json_given, is_eager=True)


JsonOpt = Annotated[bool, json_option()]


def json_requested() -> bool:
    """Whether the command running now was given `--json`."""
    return _invocation["json"]


def say(*parts: object) -> None:
    """Human-readable output on stdout (tables are `cli.table.Table`)."""
    typer.echo(" ".join(str(p) for p in parts))


def settings() -> CommandSettings:
    """The settings a command reads (`workers.plain_settings.CommandSettings`: the Redis URL, the
    namespace, the days the ledger and runs are kept): straight from the environment when
    that gives what `Settings` gives, else from `get_settings()` (which refuses a bad
    variable, one line naming it)."""
    from workers.plain_settings import PLAIN, CommandSettings, plain_settings

    plain = plain_settings()
    if plain is not None:
        return plain
    from workers.settings import get_settings

    validated = get_settings()
    return CommandSettings(*(getattr(validated, name) for name in PLAIN))


def open_store() -> ConfigStore:
    """The config store of this deployment (LLM_ROUTER_REDIS_URL, LLM_ROUTER_NAMESPACE)."""
    from routing.config.store import ConfigStore

    given = settings()
    return ConfigStore.from_url(given.redis_url, given.namespace)


def author() -> str:
    """Who is writing, for the history: user@host of this process."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def emit_json(document: Any) -> None:
    """Exactly one JSON document on stdout."""
    typer.echo(json.dumps(document, indent=2, default=str))


def error_document(message: str, code: int, **details: Any) -> dict[str, Any]:
    """What a failed `--json` command prints on stdout."""
    return {"error": message, "exit_code": code, **details}


def fail(message: str, code: int = EXIT_ERROR, **details: Any) -> NoReturn:
    """Exit with `code` after printing `message` on stderr (and, under `--json`, the error
    document with `details` on stdout)."""
    typer.echo(f"error: {message}", err=True)
    if json_requested():
        emit_json(error_document(message, code, **details))
    raise typer.Exit(code)


@contextmanager
def guarded() -> Iterator[None]:
    """Turn routing errors and refused settings into one clean message on stderr and an
    exit code."""
    try:
        yield
    except SettingsError as exc:
        fail(str(exc), EXIT_INVALID, variables=exc.variables)
    except RedisUrlError as exc:
        fail(str(exc), EXIT_INVALID, variables=["LLM_ROUTER_REDIS_URL"])
    except ConfigError as exc:
        problems = [{"path": path, "reason": reason} for path, reason in exc.problems]
        fail(str(exc), EXIT_INVALID, problems=problems)
    except VersionConflictError as exc:
        fail(str(exc), EXIT_CONFLICT)
    except (UnknownModelKeyError, PromptTooLargeError) as exc:  # refused input
        fail(str(exc), EXIT_INVALID)
    except RoutingError as exc:
        fail(str(exc), EXIT_ERROR)


def html_target(html: Path) -> Path:
    """The page's path, refused before anything is read if it cannot be written there."""
    target = html.expanduser()
    if target.is_dir():
        fail(f"--html: {html} is a directory; give a file name, e.g. {html}/cost-report.html",
             EXIT_INVALID)
    if not target.parent.is_dir():
        fail(f"--html: directory {target.parent} does not exist; create it first",
             EXIT_INVALID)
    return target
