"""`llm-router tiers`: per tier, the messages waiting in its queues and the workers consuming
them; a queue with work and no consumer is flagged (exit 4)."""

from __future__ import annotations

import typer

from cli import app
from cli.context import JsonOpt, emit_json, fail, guarded, json_requested, open_store, say
from cli.table import Table

# Work waits in a queue no worker consumes (a check that finds something: its own code).
EXIT_STRANDED = 4
EPILOG = ("Exit codes: 0 every queue with work has a consumer; 1 Redis or the broker "
          "unreachable; 2 refused settings; 4 a queue has work and no consumer.")


@app.command("tiers", short_help="Queue depth and consumers per tier.", epilog=EPILOG)
def tiers(
    as_json: JsonOpt = False,
    timeout: float = typer.Option(1.0, "--timeout", min=0.1,
                                  help="Seconds to wait for the workers' replies."),
) -> None:
    """Per tier: its queue (and Celery's default queue for the dispatch tier), the messages
    waiting there, the live workers consuming it (they answer a broadcast within --timeout),
    and STRANDED where work waits with no consumer: it waits until a worker starts."""
    from workers.app import app as celery_app
    from workers.consumers import TierQueue, queue_consumers
    from workers.contract import DEFAULT_QUEUE
    from workers.metrics.broker_depth import open_depths
    from workers.settings import get_settings

    with guarded():
        config = open_store().read()
        settings = get_settings()
    pairs = [(name, tier.queue) for name, tier in sorted(config.tiers.items())]
    pairs += [(name, DEFAULT_QUEUE) for name, tier in sorted(config.tiers.items())
              if tier.dispatch]
    depths = open_depths(settings)
    try:
        waiting = depths.queue_depths(q for _, q in pairs) if depths else {}
        consumers = queue_consumers(celery_app, timeout)
    except (ConnectionError, OSError) as exc:
        fail(f"cannot ask the broker: {exc}", 1)
    finally:
        if depths is not None:
            depths.close()
    rows = [TierQueue(t, q, waiting.get(q, 0), consumers.get(q, [])) for t, q in pairs]
    if json_requested() or as_json:
        emit_json({"tiers": [r.as_dict() for r in rows]})
    else:
        table = Table("tier", "queue", "waiting", "consumers", "")
        for r in rows:
            table.add_row(r.tier, r.queue, r.waiting, len(r.consumers),
                          "STRANDED: no worker consumes it" if r.stranded else "")
        say(table)
    if any(r.stranded for r in rows):
        raise typer.Exit(EXIT_STRANDED)
