"""What is particular to each broker. Redis: kombu's transport with a lease on every
delivery and deliveries that survive a Redis restart (`transport.py` explains both).
RabbitMQ: the tier queues' declarations, refused clearly when a queue of another type is
in the way (`rabbitmq.py`).

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
