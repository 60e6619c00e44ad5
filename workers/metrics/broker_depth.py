"""How many messages wait in a Celery queue on the Redis broker (kombu's key layout).

kombu's Redis transport keeps a queue as Redis lists: the queue's name for priority 0 and
`<name>\\x06\\x16<step>` for the other priority steps (3, 6, 9), all behind the transport's
`global_keyprefix` (LLM_ROUTER_BROKER_PREFIX). A queue's depth is the sum of their
lengths, as kombu's own `Channel._size` counts it. Messages a worker has prefetched but
not acknowledged are not waiting and are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis

# kombu.transport.redis.Channel.sep and PRIORITY_STEPS (the defaults; llm-router does
# not override them).
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


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


def tier_depths(
    client: redis.Redis, tier_queues: Mapping[str, str], prefix: str = ""
) -> dict[str, int]:
    """Waiting messages per tier, given tier -> queue name."""
    depths = queue_depths(client, tier_queues.values(), prefix)
    return {tier: depths[queue] for tier, queue in tier_queues.items()}
