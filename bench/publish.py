"""1. Publish rate: `llm.run` through the send-time router vs a bare task on a fixed queue.

Both go through the same app and broker connection with the same kwargs (same payload);
the router's cost is the decision and the route header it writes. Alternating rounds
cancel the machine's noise; the ratio is of the medians of the rounds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench.bare_tasks import BARE
from workers.contract import DEFAULT_QUEUE

MODEL_KEY = "classification"  # a Haiku-tier key
FIXED_QUEUE = "bench.fixed"


def prompt(chars: int = 400) -> str:
    return ("Classify this support message by urgency. " * 20)[:chars]


@dataclass
class PublishResult:
    routed_per_s: float
    bare_per_s: float
    rounds: int
    per_round: int
    routed_queue: str

    @property
    def ratio(self) -> float:
        return self.routed_per_s / self.bare_per_s


def _rate(task: Any, n: int, options: dict[str, Any], kwargs: dict[str, Any]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        task.apply_async(kwargs=kwargs, **options)
    return n / (time.perf_counter() - start)


def measure(rounds: int, per_round: int) -> PublishResult:
    from workers.app import app

    routed, bare = app.tasks["llm.run"], app.tasks[BARE]
    kwargs = {"model_key": MODEL_KEY, "prompt": prompt()}
    sample = routed.apply_async(kwargs=kwargs)  # warm up: connections, live config
    bare.apply_async(kwargs=kwargs, queue=FIXED_QUEUE)
    queue = _queue_of(app, sample.id)
    r_rates: list[float] = []
    b_rates: list[float] = []
    for i in range(rounds):
        # Alternate which goes first, so neither always follows the other.
        if i % 2 == 0:
            r_rates.append(_rate(routed, per_round, {}, kwargs))
            b_rates.append(_rate(bare, per_round, {"queue": FIXED_QUEUE}, kwargs))
        else:
            b_rates.append(_rate(bare, per_round, {"queue": FIXED_QUEUE}, kwargs))
            r_rates.append(_rate(routed, per_round, {}, kwargs))
    _purge(app, [queue, FIXED_QUEUE, DEFAULT_QUEUE])
    return PublishResult(statistics.median(r_rates), statistics.median(b_rates),
                         rounds, per_round, queue)


def _queue_of(app: Any, task_id: str) -> str:
    """The queue the router put the warm-up task on (read back from the broker)."""
    import json

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        prefix = app.conf.broker_transport_options.get("global_keyprefix", "")
        for name in ("llm.haiku", "llm.sonnet", "llm.opus", "llm.kimi", DEFAULT_QUEUE):
            for raw in client.lrange(f"{prefix}{name}", 0, -1):
                if json.loads(raw)["headers"].get("id") == task_id:
                    return name
    return "?"


def _purge(app: Any, queues: list[str]) -> None:
    with app.connection_for_write() as conn:
        for name in queues:
            conn.default_channel.queue_purge(name)
