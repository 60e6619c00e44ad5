"""`llm-router demo`: the whole system on one compressed day (see `workers.demo`)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from routing.cli import app
from routing.cli.context import EXIT_ERROR, console, emit_json, fail, guarded
from workers.demo import report as demo_report
from workers.demo.runner import Player, make_progress
from workers.demo.system import System, against_redis, offline
from workers.demo.workload import load_workload, timeline


def _queues_served(system: System, timeout: float) -> dict[str, list[str]]:
    """Queue -> the workers consuming it, from those that answer within `timeout`."""
    replies = system.app.control.inspect(timeout=timeout).active_queues() or {}
    served: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for q in queues:
            served.setdefault(q["name"], []).append(worker)
    return served


def _check_workers(system: System, err: Console) -> None:
    config = system.rt.live.get()
    served = _queues_served(system, timeout=2.0)
    if not served:
        fail(f"no worker answered on {system.where} within 2 s: nothing was sent. Start "
             "workers on that Redis (same LLM_ROUTER_NAMESPACE and LLM_ROUTER_BROKER_PREFIX), "
             "e.g. `llm-router worker --tier haiku` for each tier, then run the demo again")
    system.workers = sorted({w for ws in served.values() for w in ws})
    missing = [t.queue for t in config.tiers.values() if t.queue not in served]
    err.print(f"workers answering: {', '.join(system.workers)}")
    if missing:
        err.print(f"[yellow]warning:[/] no worker consumes {', '.join(missing)}; tasks "
                  "routed there will wait (the demo reports them as unanswered)")


@app.command("demo")
def demo(
    redis_url: Annotated[str | None, typer.Option(
        "--redis-url", help="Run against this Redis (config, ledger, broker) and the "
        "workers consuming its queues, instead of offline in this process.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON "
                                          "document on stdout (progress on stderr).")] = False,
    scale: Annotated[float, typer.Option(min=0.001, max=10.0, help="Fraction of the day's "
                                         "calls to play (at least one of each kind).")] = 1.0,
    day_seconds: Annotated[float, typer.Option(min=0, max=600, help="Wall-clock seconds the "
                                               "day is compressed into (0: send at once).")]
    = 6.0,
    latency: Annotated[float, typer.Option(min=0, max=5, help="Simulated provider latency, "
                                           "seconds (offline only).")] = 0.02,
    timeout: Annotated[float, typer.Option(min=1, help="Give up waiting after this many "
                                           "seconds without a result.")] = 60.0,
    workload: Annotated[Path | None, typer.Option(help="A workload YAML file instead of the "
                                                  "shipped one.")] = None,
) -> None:
    """Play one compressed day of a multi-agent system (crons, ad-hoc calls of every kind,
    large-context calls) through the real path, change one route live halfway through,
    and report calls, models, queues, tokens and cost per model key against all-on-Opus and
    all-on-Sonnet, and the budgets. Offline by default: no Redis, no API keys."""
    err = Console(stderr=True, highlight=False)
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=err)],
                        format="%(name)s: %(message)s", force=True)
    # memory:// has no host, and kombu says so on every connection.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    with guarded():
        w = load_workload(workload)
        events = timeline(w, scale)
    started = (offline(latency=latency) if redis_url is None else against_redis(redis_url))
    report: dict[str, Any]
    with guarded(), started as system:
        if system.mode == "redis":
            _check_workers(system, err)
        err.print(f"playing '{w.name}': {len(events)} sends over {day_seconds:g} s "
                  f"({system.where})")
        with make_progress(err) as progress:
            player = Player(system, events, w.live_change, day_seconds=day_seconds,
                            timeout=timeout, progress=progress)
            played = player.play()
        report = demo_report.build(system, played, workload=w.name, scale=scale,
                                   day_seconds=day_seconds)
        if as_json:  # before the in-process workers stop (a couple of seconds)
            emit_json(report)
        else:
            demo_report.render(report, console)
    if report["tasks"]["pending"]:
        typer.echo(f"error: {report['tasks']['pending']} tasks got no answer within "
                   f"{timeout:g} s of the last result: are workers running on every tier "
                   "queue?", err=True)
        raise typer.Exit(EXIT_ERROR)
    if report["tasks"]["failed"]:
        sys.exit(EXIT_ERROR)
