"""The demo's own namespace on a real Redis (`llm-router demo --redis-url`).

The demo rewrites the routing config it plays against (a live change, trials, batches,
each put back after) and sends tasks that workers answer: aimed at a deployment, it
would rewrite that deployment's live config and have its workers make paid calls. So it
plays in a namespace of its own (`--namespace`, default `DEFAULT_NAMESPACE`, never
LLM_ROUTER_NAMESPACE) on a broker prefix of its own (`<namespace>:broker:`, where a
deployment's workers never look), and a namespace becomes the demo's only when it holds
no routing config: the demo then writes a marker key (`<ns>:demo`) before the config. A
namespace holding a config without that marker is a deployment's, and is refused before
anything is written.
"""

from __future__ import annotations

import redis

from cli.demo import DEFAULT_NAMESPACE
from routing.config.store import ConfigStore
from routing.keys import keyspace

AUTHOR = "llm-router demo"


class NamespaceRefused(Exception):
    """The namespace holds a routing config the demo did not create."""


def marker_key(namespace: str) -> str:
    return f"{keyspace(namespace)}:demo"


def broker_prefix(namespace: str) -> str:
    """Where the demo's tasks wait: only workers started for the demo consume them."""
    return f"{namespace}:broker:"


def claim(client: redis.Redis, store: ConfigStore) -> None:
    """Make `store`'s namespace the demo's, if it is not already; `NamespaceRefused` (and
    nothing written) when it holds a config the demo did not create."""
    key = marker_key(store.namespace)
    if client.exists(key):
        return
    version = store.version()
    if version:
        raise NamespaceRefused(
            f"namespace '{store.namespace}' holds a routing config the demo did not create "
            f"(version {version}): the demo plays only in a namespace of its own; pass "
            f"--namespace NAME with an unused name (default '{DEFAULT_NAMESPACE}')")
    client.set(key, AUTHOR, nx=True)
