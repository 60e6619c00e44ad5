"""The `llm-router` command line. Each command group lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="llm-router",
    help="Run each kind of LLM work on the right model, on Celery and Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(
    help="The routing config in Redis (versioned, live).", no_args_is_help=True
)
cost_app = typer.Typer(help="What calls cost: estimates and reports.", no_args_is_help=True)
budget_app = typer.Typer(help="Daily budgets: limits, spend, reservations.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(cost_app, name="cost")
app.add_typer(budget_app, name="budget")


def main() -> None:
    # Command modules register themselves on the apps above when imported.
    from routing.cli import commands  # noqa: F401

    app()
