"""Which workers consume each queue, on Redis and on RabbitMQ alike: a broadcast
`active_queues` (Celery's remote control, answered by every live worker within `timeout`).
Redis keeps no consumer registry, so the broker itself cannot be asked there; on both
brokers the answer is the workers' own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celery import Celery

# Seconds a scrape waits for the workers' replies (only when some queue has work).
CONSUMERS_TIMEOUT = 1.0


def queue_consumers(app: Celery, timeout: float = 1.0) -> dict[str, list[str]]:
    """Queue name -> the node names of the live workers consuming it."""
    replies: Mapping[str, Any] = app.control.inspect(timeout=timeout).active_queues() or {}
    out: dict[str, list[str]] = {}
    for node, queues in replies.items():
        for queue in queues or []:
            out.setdefault(str(queue["name"]), []).append(node)
    return {q: sorted(nodes) for q, nodes in out.items()}


@dataclass(frozen=True)
class TierQueue:
    tier: str
    queue: str
    waiting: int  # messages waiting (not delivered to a worker)
    consumers: list[str]  # node names

    @property
    def stranded(self) -> bool:
        """Work waits and no worker consumes the queue: it waits until one starts."""
        return self.waiting > 0 and not self.consumers

    def as_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "queue": self.queue, "waiting": self.waiting,
                "consumers": self.consumers, "stranded": self.stranded}
