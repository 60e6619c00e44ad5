"""How many messages wait in each Celery queue, on the deployment's broker.

On Redis (kombu's key layout), kombu's Redis transport keeps a queue as Redis lists: the
queue's name for priority 0 and `<name>\\x06\\x16<step>` for the other priority steps (3,
6, 9), all behind the transport's `global_keyprefix` (LLM_ROUTER_BROKER_PREFIX). A queue's
depth is the sum of their lengths, as kombu's own `Channel._size` counts it. On RabbitMQ,
`amqp_depth`. Messages a worker has prefetched but not acknowledged are not waiting and
are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import redis

from workers.metrics.amqp_depth import AmqpQueueDepths
from workers.settings import Settings

# kombu.transport.redis.Channel.sep and PRIORITY_STEPS (the defaults; llm-router does
# not override them).
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
# Broker URLs whose queues are Redis lists (kombu's Redis transport, and a Unix socket).
REDIS_SCHEMES = ("redis", "rediss", "unix")


class QueueDepths(Protocol):
    def queue_depths(self, queues: Iterable[str]) -> dict[str, int]:
        """Waiting messages per queue name."""
        ...

    def close(self) -> None: ...


def queue_keys(queue: str, prefix: str = "") -> list[str]:
    """The Redis lists holding `queue`'s waiting messages, one per priority step."""
    return [
        f"{prefix}{queue}" if step == 0 else f"{prefix}{queue}{PRIORITY_SEP}{step}"
        for step in PRIORITY_STEPS
    ]


def queue_depths(
    client: redis.Redis, queues: Iterable[str], prefix: str = ""
) -> dict[str, int]:
    """Waiting messages per queue name, in one pipelined round trip."""
    names = list(queues)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            for key in queue_keys(name, prefix):
                pipe.llen(key)
        lengths = [int(n) for n in pipe.execute()]
    width = len(PRIORITY_STEPS)
    return {name: sum(lengths[i * width:(i + 1) * width]) for i, name in enumerate(names)}


@dataclass
class RedisQueueDepths:
    client: redis.Redis
    prefix: str = ""
    owned: bool = True  # close the client with this

    def queue_depths(self, queues: Iterable[str]) -> dict[str, int]:
        return queue_depths(self.client, queues, self.prefix)

    def close(self) -> None:
        if self.owned:
            self.client.close()


def open_depths(settings: Settings, routing: redis.Redis | None = None) -> QueueDepths | None:
    """What counts the waiting messages on `settings`' broker; None for a broker without
    queues to count (the demo's memory://). `routing`: the routing Redis's client, used
    when the broker is the same Redis."""
    url = settings.broker_url
    if settings.broker_kind == "amqp":
        return AmqpQueueDepths(url)
    if urlsplit(url).scheme not in REDIS_SCHEMES:
        return None
    if routing is not None and url == settings.redis_url:
        return RedisQueueDepths(routing, settings.broker_prefix, owned=False)
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                  health_check_interval=30)
    return RedisQueueDepths(client, settings.broker_prefix)


def tier_depths(depths: QueueDepths, tier_queues: Mapping[str, str]) -> dict[str, int]:
    """Waiting messages per tier, given tier -> queue name."""
    counted = depths.queue_depths(tier_queues.values())
    return {tier: counted[queue] for tier, queue in tier_queues.items()}
