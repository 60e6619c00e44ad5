"""`llm-router metrics`: serve the deployment's Prometheus metrics (or print them once)."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Annotated

import typer

from cli import app
from cli.context import fail, guarded
from workers.metrics import DEFAULT_PORT


@app.command("metrics", short_help="Serve the Prometheus metrics.")
def metrics(
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=0, max=65535,
            help=f"Port to serve on (default: LLM_ROUTER_METRICS_PORT, else {DEFAULT_PORT}).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 in a container).")
    ] = "127.0.0.1",
    once: Annotated[
        bool, typer.Option("--once", help="Print the metrics once on stdout and exit.")
    ] = False,
) -> None:
    """Prometheus metrics for every worker on every host, read from Redis at each scrape:
    calls, tokens and spend from the ledger, what the same tokens would cost all on one model,
    budgets, config version, queue depth per tier."""
    from prometheus_client import generate_latest

    from routing.redis_url import redact_url
    from workers.metrics.http import registry_for, serve
    from workers.metrics.source import RedisMetricsSource
    from workers.settings import get_settings

    with guarded():
        settings = get_settings()
        source = RedisMetricsSource(settings, consumers=_consumers)
    try:
        if once:
            import redis

            try:
                source.snapshot()  # fail with one line, not a scrape that says up 0
            except redis.RedisError as exc:
                fail(f"cannot read the metrics: Redis at {redact_url(settings.redis_url)} "
                     f"did not answer ({exc}); check LLM_ROUTER_REDIS_URL and that Redis is "
                     "running")
            except ConnectionError as exc:  # the broker's queue depths (RabbitMQ)
                fail(f"cannot read the queue depths: {exc}; check LLM_ROUTER_BROKER_URL and "
                     "that the broker is running")
            sys.stdout.write(generate_latest(registry_for(source)).decode())
            return
        chosen = port if port is not None else (settings.metrics_port or DEFAULT_PORT)
        try:
            server = serve(source, host=host, port=chosen)
        except OSError as exc:
            typer.echo(f"cannot serve metrics on {host}:{chosen}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"serving metrics on http://{host}:{server.port}/metrics "
                   f"(namespace '{settings.namespace}')", err=True)
        stop = threading.Event()

        def _stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        stop.wait()
        server.close()
    finally:
        source.close()


def _consumers() -> dict[str, list[str]]:
    """The live workers consuming each queue (a broadcast: only when a queue has work)."""
    from workers.app import app as celery_app
    from workers.consumers import CONSUMERS_TIMEOUT, queue_consumers

    return queue_consumers(celery_app, CONSUMERS_TIMEOUT)
