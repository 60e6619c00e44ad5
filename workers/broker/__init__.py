"""The Redis broker transport: kombu's, with a lease on every delivery and deliveries
that survive a Redis restart (`transport.py` explains both).

`celery_config` names `TRANSPORT` for redis:// and rediss:// broker URLs; importing this
package imports nothing of kombu.
"""

from __future__ import annotations

from urllib.parse import urlsplit

TRANSPORT = "workers.broker.transport:Transport"
#: The same transport for rediss:// URLs (kombu names a connection's URL scheme after the
#: transport's name: this one shows as rediss://, the other as redis://).
TLS_TRANSPORT = "workers.broker.transport:TlsTransport"
REDIS_SCHEMES = frozenset({"redis", "rediss"})


def is_redis_url(url: str) -> bool:
    """Whether kombu would use its Redis transport for this broker URL (the first URL of a
    `;`-separated failover list)."""
    first = url.split(";", 1)[0].strip()
    return urlsplit(first).scheme.lower() in REDIS_SCHEMES
