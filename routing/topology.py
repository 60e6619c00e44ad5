"""Which Redis topology a URL names, from its scheme alone (no client library)."""

from __future__ import annotations

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


def is_topology_url(url: str) -> bool:
    """A Redis Cluster or Sentinel URL: the routing data can live there, Celery's broker
    and result backend cannot."""
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES + SENTINEL_SCHEMES
