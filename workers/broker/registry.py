"""What this process holds, per broker: its live deliveries and its orphans.

A delivery is *live* while the channel that received it is open: its holder renews its
lease (`keeper.py`) until it is acknowledged. When the connection is lost, the channel
closes with deliveries whose tasks are still running (or waiting in the pool, where they
will run): kombu would push them back to their queues, which Redis cannot take while it
is away, and which would run them twice once it is back. They become *orphans* instead,
still renewed, and each is settled once through a later connection (`outage.py`):
acknowledged, put back (rejected with requeue, or no longer running), or kept until its
task acknowledges it.

One registry per process, shared by every connection (they come and go) and the keeper
thread; every method holds the lock.
"""

from __future__ import annotations

import enum
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from workers.broker.leases import LeaseKeys


@dataclass(frozen=True)
class Broker:
    """One Redis broker as this process sees it: its address and its keys."""

    address: str
    keys: LeaseKeys


class Held(enum.Enum):
    OWNED = "owned"      # its task runs (or will) in this process
    ACKED = "acked"      # acknowledged while Redis was away: to be forgotten there
    REQUEUE = "requeue"  # rejected with requeue (or never recorded): to be put back


@dataclass(eq=False)
class Orphan:
    """A delivery that outlived its channel."""

    tag: str
    state: Held
    payload: str | None   # as kombu stores it in `unacked`: [message, exchange, routing key]
    exchange: str
    epoch: str | None     # the data epoch of the Redis that has it; None: maybe none has
    request: Callable[[], Any] | None = None   # weak reference to Celery's request
    idle_since: float | None = field(default=None)

    def task_alive(self) -> bool:
        return self.request is not None and self.request() is not None


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[Broker, dict[str, str]] = {}         # tag -> epoch
        self._orphans: dict[Broker, dict[str, Orphan]] = {}
        self._epochs: dict[Broker, str] = {}
        self._pools: dict[Broker, redis.ConnectionPool] = {}

    def reset(self) -> None:
        """Forget everything (a forked child holds nothing of its parent's)."""
        self._lock = threading.Lock()
        self._live, self._orphans, self._epochs, self._pools = {}, {}, {}, {}

    # -- Redis connections that never depend on a (possibly closed) kombu channel -------
    def add_pool(self, broker: Broker, params: dict[str, Any]) -> None:
        with self._lock:
            if broker not in self._pools:
                self._pools[broker] = redis.ConnectionPool(**params)

    def pool(self, broker: Broker) -> redis.ConnectionPool:
        with self._lock:
            return self._pools[broker]

    # -- epochs ------------------------------------------------------------------------
    def epoch(self, broker: Broker) -> str | None:
        with self._lock:
            return self._epochs.get(broker)

    def set_epoch(self, broker: Broker, epoch: str) -> str | None:
        """Record the current data epoch; the previous one."""
        with self._lock:
            previous = self._epochs.get(broker)
            self._epochs[broker] = epoch
            return previous

    # -- live deliveries ---------------------------------------------------------------
    def delivered(self, broker: Broker, tag: str, epoch: str) -> None:
        with self._lock:
            self._live.setdefault(broker, {})[tag] = epoch
            self._epochs[broker] = epoch

    def settled(self, broker: Broker, tag: str) -> None:
        with self._lock:
            self._live.get(broker, {}).pop(tag, None)

    # -- orphans -----------------------------------------------------------------------
    def orphan(self, broker: Broker, tag: str, payload: str, exchange: str,
               request: object | None) -> None:
        """The channel of a live delivery closed while its task may still run."""
        with self._lock:
            epoch = self._live.get(broker, {}).pop(tag, None)
            bucket = self._orphans.setdefault(broker, {})
            if tag not in bucket:
                ref = weakref.ref(request) if request is not None else None
                bucket[tag] = Orphan(tag, Held.OWNED, payload, exchange, epoch, ref)

    def acked(self, broker: Broker, tag: str) -> None:
        """An acknowledgement that could not reach Redis (of a delivery held here: one
        put back already, at a shutdown, may be another worker's by now)."""
        with self._lock:
            live = self._live.get(broker, {})
            bucket = self._orphans.setdefault(broker, {})
            held = bucket.get(tag)
            if held is not None:
                held.state = Held.ACKED
            elif tag in live:
                bucket[tag] = Orphan(tag, Held.ACKED, None, "", live.pop(tag))

    def requeue(self, broker: Broker, tag: str, payload: str | None, exchange: str,
                *, recorded: bool = True) -> None:
        """A delivery to put back that could not be put back now (`recorded=False`: it
        may never have reached the `unacked` hash)."""
        with self._lock:
            epoch = self._live.get(broker, {}).pop(tag, None) if recorded else None
            bucket = self._orphans.setdefault(broker, {})
            held = bucket.get(tag)
            if held is None:
                if payload is None:
                    return  # nothing to put back; its lease expires and a sweep does it
                bucket[tag] = Orphan(tag, Held.REQUEUE, payload, exchange, epoch)
                return
            held.state = Held.REQUEUE
            if not recorded:
                held.epoch = None

    def orphans(self, broker: Broker) -> list[Orphan]:
        with self._lock:
            return list(self._orphans.get(broker, {}).values())

    def drop(self, broker: Broker, orphan: Orphan) -> None:
        with self._lock:
            bucket = self._orphans.get(broker, {})
            if bucket.get(orphan.tag) is orphan:
                del bucket[orphan.tag]

    def registered(self, broker: Broker, orphans: list[Orphan], epoch: str) -> None:
        """These orphans are in the Redis of `epoch` now."""
        with self._lock:
            for orphan in orphans:
                orphan.epoch = epoch

    # -- what the keeper renews ---------------------------------------------------------
    def renewable(self, broker: Broker) -> list[str]:
        """Tags this process holds: live, and orphans not yet acknowledged."""
        with self._lock:
            tags = list(self._live.get(broker, {}))
            tags += [t for t, o in self._orphans.get(broker, {}).items()
                     if o.state is not Held.ACKED]
            return tags


REGISTRY = Registry()
os.register_at_fork(after_in_child=REGISTRY.reset)
