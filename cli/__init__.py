"""The `llm-router` command line: the top layer, above the tasks, the workers and the
routing core.

Each command group lives in its own module and registers itself on the Typer apps below
when imported. Command modules import only Typer, Rich and the routing core at import
time; whatever else a command needs (Celery, the provider SDKs, Prometheus, the demo) it
imports when it runs, so `llm-router route ...` or `--help` never load the worker stack.
"""

from __future__ import annotations

import re
from enum import EnumMeta
from typing import Any

import typer

# Plain Click help: Rich's help formatter (and the Markdown parser it loads) would double
# the start-up time of `--help`.
app = typer.Typer(
    name="llm-router",
    rich_markup_mode=None,
    help="Run each kind of LLM work on the right model, on Celery and Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(
    help="The routing config in Redis (versioned, live).",
    short_help="The routing config in Redis, live.", no_args_is_help=True,
    rich_markup_mode=None,
)
cost_app = typer.Typer(help="What calls cost: estimates and reports.", no_args_is_help=True,
                       rich_markup_mode=None)
budget_app = typer.Typer(help="Daily budgets: limits, spend, reservations.",
                         no_args_is_help=True, rich_markup_mode=None)
prices_app = typer.Typer(help="The config's prices against the pinned price catalog.",
                         short_help="Prices against the price catalog.",
                         no_args_is_help=True, rich_markup_mode=None)
runs_app = typer.Typer(
    help="Runs (run_id): one run's spend and calls, stopping a run.",
    short_help="Runs: show one, stop one.", no_args_is_help=True, rich_markup_mode=None,
)
batches_app = typer.Typer(
    help="Provider batches: those llm-router tracks, orphans at the providers, canceling.",
    short_help="Provider batches: list, cancel.", no_args_is_help=True,
    rich_markup_mode=None,
)
samples_app = typer.Typer(
    help="Recorded samples of a model key's calls (prompts included): show, purge.",
    short_help="Recorded samples: show, purge.", no_args_is_help=True,
    rich_markup_mode=None,
)
trial_app = typer.Typer(help="Trials of candidate models: replay recorded samples.",
                        short_help="Replay recorded samples on a candidate.",
                        no_args_is_help=True, rich_markup_mode=None)


def _print_version() -> None:
    from importlib.metadata import version

    typer.echo(f"llm-router {version('llm-router')}")


def _version(given: bool) -> None:
    if given:
        _print_version()
        raise typer.Exit()


@app.callback()
def _each_invocation(
    _: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                           help="Print the installed version and exit."),
) -> None:
    # Runs before any command's options are parsed: no --json seen yet.
    from cli.context import json_given

    json_given(False)


app.add_typer(config_app, name="config")
app.add_typer(cost_app, name="cost")
app.add_typer(budget_app, name="budget")
app.add_typer(prices_app, name="prices")
app.add_typer(batches_app, name="batches")
app.add_typer(runs_app, name="runs")
app.add_typer(samples_app, name="samples")
app.add_typer(trial_app, name="trial")

# command (or group) name -> the modules that register it
COMMANDS: dict[str, tuple[str, ...]] = {
    "config": ("cli.config_cmd",),
    "route": ("cli.route_cmd",),
    "cost": ("cli.cost_estimate_cmd", "cli.report_cmd", "cli.reconcile_cmd"),
    "budget": ("cli.budget_cmd",),
    "worker": ("cli.worker_cmd",),
    "metrics": ("cli.metrics_cmd",),
    "demo": ("cli.demo_cmd",),
    "review": ("cli.review_cmd",),
    "flower": ("cli.flower_cmd",),
    "plan": ("cli.plan_cmd",),
    "prices": ("cli.prices_cmd",),
    "batches": ("cli.batches_cmd",),
    "tiers": ("cli.tiers_cmd",),
    "runs": ("cli.runs_cmd",),
    "samples": ("cli.samples_cmd",),
    "trial": ("cli.replay_cmd",),
}


def register(only: str | None = None) -> typer.Typer:
    """Import the command modules (each registers its commands on `app`): those of the
    command `only`, or every one (for the command list, or a name that is not a command);
    return `app`."""
    from importlib import import_module

    for name in COMMANDS.get(only or "") or [m for ms in COMMANDS.values() for m in ms]:
        import_module(name)
    return app


# the commands that read (or write the config) in this process and start no other
PLUGIN_FREE = frozenset({"route", "config", "cost", "budget", "review", "plan", "prices",
                         "batches", "tiers", "runs", "samples"})


# what typer's int and float adapters read from a command line, written plainly: they
# give int(text) and float(text) for these (others, e.g. `1_000`, `1e3`, go to them)
_PLAIN_NUMBER = {int: re.compile(r"-?(0|[1-9][0-9]{0,17})"),
                 float: re.compile(r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,17})?")}
_NOT_PLAIN = object()


def _coerced_plainly(descriptor: Any, value: Any) -> Any:
    """What typer's coercion returns for `value`, where that is known without building its
    pydantic TypeAdapter (else `_NOT_PLAIN`): None (a parameter not given: `coerce`
    returns it, or `()` for a multiple one, before any adapter); for a parameter with no
    parser or file, a value of exactly the plain str, int or float it declares, or a plain
    decimal number (`48`, `0.7`) given for an int or float, within its bounds (typer's
    adapter for it is str() then str, or int() or float() then a check of the bounds,
    clamped to them; one out of bounds goes to the adapter, which refuses it); a list of
    str for a `list[str]`; the member of the Enum it declares (its default)."""
    if value is None:
        return None
    info = descriptor.parameter_info
    annotation = descriptor.annotation
    if descriptor.file_annotation is not None or info.parser is not None:
        return _NOT_PLAIN
    if annotation is str:
        return value if type(value) is str else _NOT_PLAIN
    if annotation in _PLAIN_NUMBER:
        if type(value) is str and _PLAIN_NUMBER[annotation].fullmatch(value):
            value = annotation(value)
        if type(value) is not annotation:
            return _NOT_PLAIN
        low, high = info.min, info.max
        return value if ((low is None or value >= low) and (high is None or value <= high)
                         ) else _NOT_PLAIN
    if annotation == list[str]:
        plain = type(value) in (list, tuple) and all(type(v) is str for v in value)
        return list(value) if plain else _NOT_PLAIN
    if isinstance(annotation, EnumMeta) and type(value) is annotation:
        return value
    return _NOT_PLAIN


def _coerce_lazily() -> None:
    """typer (0.2x) coerces each parameter's value through a pydantic TypeAdapter it
    builds on first use (importing typer's adapters and pydantic's TypeAdapter), also
    where the outcome is plain (`_coerced_plainly`): there, give typer that outcome,
    coerced as typer does a type pydantic cannot adapt (returned when an instance)."""
    try:
        from typer._coercion import PassThroughRuntimeParam
        from typer.core import _TyperParameter as parameter
    except ImportError:  # another typer: its own coercion
        return
    if not hasattr(parameter, "get_runtime_param"):
        return
    process_value = parameter.process_value

    def process_plain_lazily(self: Any, ctx: Any, value: Any) -> Any:
        descriptor = self.type_descriptor
        coerced = (_NOT_PLAIN if self._runtime_param is not None
                   else _coerced_plainly(descriptor, value))
        if coerced is _NOT_PLAIN:
            return process_value(self, ctx, value)
        self._runtime_param = PassThroughRuntimeParam(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation if coerced is None else type(coerced))
        try:
            return process_value(self, ctx, coerced)
        finally:
            self._runtime_param = None

    parameter.process_value = process_plain_lazily  # type: ignore[method-assign]


def main() -> None:
    import os
    import sys

    from cli.context import emit_json, error_document, json_requested

    first = next((a for a in sys.argv[1:2] if not a.startswith("-")), None)
    if first in PLUGIN_FREE:
        # pydantic looks for its plugins (every installed distribution's entry points)
        # when it builds the first validator: about 10 ms of a command that only reads
        # and starts no other process. PYDANTIC_DISABLE_PLUGINS, when set, decides.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if sys.argv[1:] == ["--version"]:  # what the eager option does, without the commands
        _print_version()
        sys.exit(0)
    _coerce_lazily()
    # `llm-router route ...` loads the route command alone; `--help` loads them all.
    command = typer.main.get_command(register(first))
    try:
        # Not standalone, so that a usage error (a bad option value, a missing argument)
        # under --json prints its JSON error document too.
        code = command.main(standalone_mode=False)
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    except Exception as exc:
        # Click's usage errors, matched by shape (typer vendors click in recent versions).
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if show is None or not isinstance(exit_code, int):
            raise  # a bug: its traceback
        show()
        if json_requested() or "--json" in sys.argv[1:]:
            emit_json(error_document(exc.format_message(), exit_code))  # type: ignore[attr-defined]
        sys.exit(exit_code)
    sys.exit(code if isinstance(code, int) else 0)
