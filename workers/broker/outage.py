"""Settling the orphans of a lost connection through a live one (see `registry.py`).

Runs on the worker's event loop, with each sweep: an orphan whose task is still running
(or waiting in the pool) stays held, renewed by the keeper, until the task acknowledges
it; one rejected with requeue goes back to its queue; one whose task is no longer here
(seen so twice, `ABANDON_GRACE` apart: an acknowledgement may be on its way) goes back
too. An orphan is put back only once it is in this Redis (the keeper registers it again
if Redis lost it) and its exchange is declared on this connection, so that kombu finds
its queue. At shutdown (`final`) every orphan left is put back at once.
"""

from __future__ import annotations

import logging
import uuid
from time import monotonic, time

import redis

from workers.broker import leases, worker_state
from workers.broker.protocols import LeaseQoS
from workers.broker.registry import REGISTRY, Held, Orphan

logger = logging.getLogger(__name__)

#: Seconds an orphan must stay away from the running tasks before it is put back.
ABANDON_GRACE = 2.0


def settle(qos: LeaseQoS, client: redis.Redis, *, final: bool = False) -> None:
    """Settle what can be settled now; the rest waits for the next call."""
    channel = qos.lease_channel
    broker = channel.broker
    orphans = REGISTRY.orphans(broker)
    if not orphans:
        return
    if final:
        _register(qos, orphans)
    epoch = REGISTRY.epoch(broker)
    running = set() if final else worker_state.running_tags()
    now = monotonic()
    for orphan in orphans:
        if orphan.state is Held.ACKED or epoch is None or orphan.epoch != epoch:
            continue  # the keeper forgets it, or registers it in this Redis first
        if final or orphan.state is Held.REQUEUE:
            _put_back(qos, client, orphan, "rejected" if orphan.state is Held.REQUEUE
                      else "the worker stops")
        elif running is None:
            continue
        elif orphan.tag in running or orphan.task_alive():
            orphan.idle_since = None
        elif orphan.idle_since is None:
            orphan.idle_since = now
        elif now - orphan.idle_since >= ABANDON_GRACE:
            _put_back(qos, client, orphan, "its task no longer runs here")


def _register(qos: LeaseQoS, orphans: list[Orphan]) -> None:
    """At shutdown: do the keeper's pending work now (it will not run again)."""
    channel = qos.lease_channel
    client = channel.lease_client()
    beat = leases.beat(client, channel.broker.keys, channel.lease, uuid.uuid4().hex, [])
    REGISTRY.set_epoch(channel.broker, beat.epoch)
    acked = [o for o in orphans if o.state is Held.ACKED]
    missing = [o for o in orphans if o.state is not Held.ACKED and o.epoch != beat.epoch]
    leases.write_back(client, channel.broker.keys, [o.tag for o in acked],
                      [(o.tag, o.payload) for o in missing if o.payload is not None], time())
    for orphan in acked:
        REGISTRY.drop(channel.broker, orphan)
    REGISTRY.registered(channel.broker, [o for o in missing if o.payload is not None],
                        beat.epoch)


def _put_back(qos: LeaseQoS, client: redis.Redis, orphan: Orphan, why: str) -> None:
    channel = qos.lease_channel
    if orphan.exchange and orphan.exchange not in channel.state.exchanges:
        return  # not declared on this connection yet: kombu would not find its queue
    qos.restore_by_tag(orphan.tag, client)
    REGISTRY.drop(channel.broker, orphan)
    logger.warning("broker: delivery %s held through a lost connection is back in its "
                   "queue (%s)", orphan.tag, why)
