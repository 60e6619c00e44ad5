"""`llm-router worker --tier TIER [celery options]`: a worker on one tier's queue, with the
tier's profile (pool, concurrency, prefetch) from the routing config in Redis, under a node
name no other worker on the host has (`workers.nodenames`) unless `-n/--hostname` names it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from cli import app
from cli.context import fail, guarded, open_store

if TYPE_CHECKING:
    from routing.config.models import TierSpec


def worker_argv(tier: TierSpec, extra: list[str], nodename: str | None) -> list[str]:
    """The `celery worker` arguments of a tier's profile, under `nodename` (None: `extra`
    names it); `extra` comes last and wins."""
    from workers.contract import DEFAULT_QUEUE

    queues = [tier.queue, DEFAULT_QUEUE] if tier.dispatch else [tier.queue]
    return [
        "worker",
        "--queues", ",".join(queues),
        "--pool", str(tier.pool),
        "--concurrency", str(tier.concurrency),
        "--prefetch-multiplier", str(tier.prefetch),
        *(["--hostname", nodename] if nodename else []),
        "--task-events",
        *extra,
    ]


@app.command(
    "worker",
    short_help="Start a Celery worker for one tier.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def worker(
    ctx: typer.Context,
    tier: str = typer.Option(..., "--tier", help="The tier whose queue and profile to use."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the celery command only."),
) -> None:
    """Start a Celery worker on a tier's queue with the tier's profile; extra arguments
    (e.g. --loglevel INFO, --concurrency 4) are passed to `celery worker`."""
    with guarded():
        config = open_store().read()
    if tier not in config.tiers:
        fail(f"--tier: unknown tier '{tier}' (known: {', '.join(sorted(config.tiers))})", 2)
    from workers import nodenames
    from workers.settings import get_settings

    extra = list(ctx.args)
    node = None
    if not nodenames.given_hostname(extra):
        with guarded():
            settings = get_settings()
        # Held until this process ends: no other worker of the broker on the host takes it.
        node = nodenames.claim(tier, f"{settings.broker_url}|{settings.broker_prefix}")
    argv = worker_argv(config.tiers[tier], extra, node.name if node else None)
    if dry_run:
        typer.echo("celery -A workers.app " + " ".join(argv))
        return
    import click
    from celery.bin.celery import celery as celery_command

    # `celery_app.worker_main(argv)` drops the worker's status (click returns the Exit
    # code of `celery worker`, its WorkController's exitcode, and Celery's `start`
    # discards it): run the `celery` command as `celery -A workers.app` does and exit
    # with its status, so that a supervisor restarting on failure sees the failure.
    try:
        code = celery_command.main(args=["--app", "workers.app", *argv], standalone_mode=False)
    except click.exceptions.Exit as exc:  # click before 8.2 raised it
        code = exc.exit_code
    if isinstance(code, int) and code:
        raise typer.Exit(code)
