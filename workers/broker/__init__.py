"""What is particular to each broker.

Redis: kombu's transport with a lease on every delivery and deliveries that survive a
Redis restart (`transport.py` explains both):
- `transport`: the transport and its channel; `claim`: a message popped and recorded as
  delivered in one Lua call; `qos`: kombu's ack emulation with leases
- `leases`: the leases in Redis; `keeper`: the thread that renews them; `registry`: the
  live deliveries and orphans of each connection; `outage`: orphans settled through a
  live connection; `worker_state`: what the worker is running
- `internals`: the kombu internals relied on, checked at start; `protocols`: the types
  they need; `errors`: the transport's errors

RabbitMQ: `rabbitmq`: the tier queues' declarations, refused clearly when a queue of
another type is in the way.

`celery_config` names `TRANSPORT` for redis:// and rediss:// broker URLs; importing this
package imports nothing of kombu.
"""

from __future__ import annotations

from workers.settings import broker_kind

TRANSPORT = "workers.broker.transport:Transport"
#: The same transport for rediss:// URLs (kombu names a connection's URL scheme after the
#: transport's name: this one shows as rediss://, the other as redis://).
TLS_TRANSPORT = "workers.broker.transport:TlsTransport"


def is_redis_url(url: str) -> bool:
    """Whether kombu would use its Redis transport for this broker URL (the first URL of a
    `;`-separated failover list)."""
    return broker_kind(url) == "redis"
