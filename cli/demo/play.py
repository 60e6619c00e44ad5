"""Playing the demo day end to end: set up the system, play the workload, report.

`llm-router demo` (`cli.demo_cmd`) calls `play` with its options; everything the demo
needs (Celery, fakeredis, the task modules) is imported here, when it runs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from cli.context import EXIT_ERROR, EXIT_INVALID, emit_json, fail, guarded
from cli.demo import agent as demo_agent
from cli.demo import report as demo_report
from cli.demo.namespace import NamespaceRefused
from cli.demo.runner import Played, Player, make_progress, run_days
from cli.demo.system import System, against_redis, offline
from cli.demo.workload import load_workload, timeline
from workers.plain_settings import NAMESPACE_PATTERN


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
        ns = system.rt.settings.namespace
        fail(f"no worker answered on {system.where} within 2 s: nothing was sent. Start "
             f"the demo's workers on that Redis (LLM_ROUTER_NAMESPACE={ns} "
             f"LLM_ROUTER_BROKER_PREFIX={ns}:broker: LLM_ROUTER_PROVIDER_MODE=simulated), "
             "e.g. `llm-router worker --tier haiku` for each tier, then run the demo again")
    system.workers = sorted({w for ws in served.values() for w in ws})
    missing = [t.queue for t in config.tiers.values() if t.queue not in served]
    err.print(f"workers answering: {', '.join(system.workers)}")
    if missing:
        err.print(f"[yellow]warning:[/] no worker consumes {', '.join(missing)}; tasks "
                  "routed there will wait (the demo reports them as unanswered)")


@contextmanager
def _refused() -> Iterator[None]:
    try:
        yield
    except NamespaceRefused as exc:
        fail(str(exc), EXIT_INVALID)


def write_html(system: System, played: Played, path: Path, title: str) -> None:
    """The cost report of the demo's day(s) from its ledger, as one HTML page."""
    from routing.reports.html import write_page
    from routing.reports.report import build_report
    from routing.spend.budget import BudgetBook

    rt = system.rt
    config = rt.store.read()
    days = run_days(played.started_at, played.started_at + played.wall_seconds)
    report = build_report(rt.ledger, config, day=days[-1], days=len(days))
    budgets = [s.as_dict() for s in BudgetBook(rt.redis, rt.settings.namespace).status(config)]
    where = ("offline: the demo's calls only" if system.mode == "offline"
             else f"{system.where}: every call of namespace '{rt.settings.namespace}'")
    write_page(path, report, budgets, title="llm-router demo: cost report",
               subtitle=f"{title} ({where})")


def play(*, redis_url: str | None, namespace: str, as_json: bool, scale: float, day_seconds: float,
         latency: float, timeout: float, workload: Path | None,
         html: Path | None = None) -> None:
    """See `llm-router demo --help`."""
    err = Console(stderr=True, highlight=False)
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=err)],
                        format="%(name)s: %(message)s", force=True)
    # memory:// has no host, and kombu says so on every connection.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    if redis_url is not None and not NAMESPACE_PATTERN.fullmatch(namespace):
        fail(f"--namespace: '{namespace}' is not a namespace: letters, digits, '_', '.', "
             "':' and '-' only (e.g. llmr-demo)", EXIT_INVALID)
    with guarded():
        w = load_workload(workload)
        events = timeline(w, scale)
    started = (offline(latency=latency, error_rates=w.simulated_error_rates,
                       format_error_rate=w.simulated_format_error_rate)
               if redis_url is None else against_redis(redis_url, namespace))
    report: dict[str, Any]
    with guarded(), _refused(), started as system:
        if system.mode == "redis":
            _check_workers(system, err)
        err.print(f"playing '{w.name}': {len(events)} sends over {day_seconds:g} s "
                  f"({system.where})")
        with make_progress(err) as progress:
            player = Player(system, events, w.live_change, day_seconds=day_seconds,
                            timeout=timeout, progress=progress, trials=w.trials,
                            batch=w.batch, replay=w.replay)
            played = player.play()
        report = demo_report.build(system, played, workload=w.name, scale=scale,
                                   day_seconds=day_seconds)
        if html is not None:  # from the ledger, before an offline system goes away, and
            # before the agent loop below, so that the page and the report count one day
            write_html(system, played, html, f"'{w.name}' at scale {scale:g}")
            err.print(f"wrote {html}", soft_wrap=True)  # a path is copied whole
        # then an agent's tool-calling loop through llm.run (after the day's figures)
        report["agent_loop"] = demo_agent.run(system.app, timeout)
        if as_json:  # before the in-process workers stop (a couple of seconds)
            emit_json(report)
        else:
            demo_report.render(report, Console(highlight=False, width=max(120, err.width)))
    if report["tasks"]["pending"]:
        typer.echo(f"error: {report['tasks']['pending']} tasks got no answer within "
                   f"{timeout:g} s of the last result: are workers running on every tier "
                   "queue?", err=True)
        raise typer.Exit(EXIT_ERROR)
    if report["tasks"]["failed"]:
        sys.exit(EXIT_ERROR)
