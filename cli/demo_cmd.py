"""`llm-router demo`: the whole system on one compressed day (see `cli.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import app
from cli.context import json_option
from cli.demo import DEFAULT_NAMESPACE


@app.command("demo", short_help="Play one compressed day, offline.")
def demo(
    redis_url: Annotated[str | None, typer.Option(
        "--redis-url", help="Run against this Redis (config, ledger, broker) and the "
        "workers consuming the demo's queues there, instead of offline in this process; "
        "always in the demo's own namespace (--namespace), never a deployment's.")] = None,
    namespace: Annotated[str, typer.Option(
        "--namespace", help="With --redis-url: the demo's namespace (its broker prefix is "
        "NAMESPACE:broker:). Refused, exit 2, when it holds a routing config the demo did "
        "not create: the demo never rewrites a deployment's live config.")]
    = DEFAULT_NAMESPACE,
    as_json: Annotated[bool, json_option("Print the report (or the error) as one JSON "
                                         "document on stdout; progress on stderr.")] = False,
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
    html: Annotated[Path | None, typer.Option(
        "--html", metavar="FILE", help="Also write the day's cost report as one "
        "self-contained HTML page with charts (works offline) to FILE.")] = None,
) -> None:
    """Play one compressed day of a multi-agent system (crons, ad-hoc calls of every kind,
    large-context calls) through the real path, change one route live halfway through,
    and report calls, models, queues, tokens and cost per model key against all-on-Opus and
    all-on-Sonnet, and the budgets. Offline by default: no Redis, no API keys. With
    --redis-url it plays in a namespace of its own, never LLM_ROUTER_NAMESPACE's: start
    its workers with LLM_ROUTER_NAMESPACE=NAMESPACE, LLM_ROUTER_BROKER_PREFIX=NAMESPACE:broker:
    and LLM_ROUTER_PROVIDER_MODE=simulated (the demo's calls are then free)."""
    from cli.context import html_target
    from cli.demo.play import play

    play(redis_url=redis_url, namespace=namespace, as_json=as_json, scale=scale,
         day_seconds=day_seconds, latency=latency, timeout=timeout, workload=workload,
         html=None if html is None else html_target(html))
