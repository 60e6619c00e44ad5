"""The keeper: one thread per consuming process that renews the leases of everything the
process holds, every `renew` seconds.

A thread of its own, not the worker's event loop: when Redis goes away, Celery's consumer
waits between reconnection attempts (2, 4, 6... up to 30 s), while the keeper tries again
at every renewal, so a live worker renews within one interval of Redis coming back and
its leases never look expired to the others. It also does what needs no kombu channel:
it forgets in Redis the deliveries acknowledged while Redis was away, and registers again
the running ones that a Redis which lost its data no longer has.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid

import redis

from workers.broker import leases
from workers.broker.leases import LeaseOptions
from workers.broker.registry import REGISTRY, Broker, Held, Registry

logger = logging.getLogger(__name__)


class Keeper:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._round = threading.Lock()  # held while a round of renewals runs
        self._brokers: dict[Broker, LeaseOptions] = {}
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        """After a fork: the child has no keeper thread (it starts one if it consumes)."""
        self._lock = threading.Lock()
        self._round = threading.Lock()
        self._brokers = {}
        self._thread = None

    def watch(self, broker: Broker, options: LeaseOptions) -> None:
        """Renew this broker's leases from now on (starts the thread once)."""
        with self._lock:
            self._brokers[broker] = options
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="llm-router-broker-leases", daemon=True)
                self._thread.start()

    def unwatch(self, broker: Broker) -> None:
        """Stop renewing for this broker (a process that is done consuming from it; a
        worker never is: its leases are renewed for its life, across reconnections)."""
        with self._lock:
            self._brokers.pop(broker, None)
        with self._round:  # a round that had it is over: nothing more is written for it
            pass

    def unwatch_all(self) -> None:
        """Stop renewing for every broker (a process done consuming from all of them)."""
        with self._lock:
            brokers = list(self._brokers)
        for broker in brokers:
            self.unwatch(broker)

    def _run(self) -> None:
        wait = threading.Event().wait  # never set: a sleep that is not a busy loop
        while True:
            with self._round:
                with self._lock:
                    brokers = dict(self._brokers)
                for broker, options in brokers.items():
                    try:
                        self.renew(broker, options)
                    except redis.RedisError as exc:
                        logger.debug("broker leases: Redis unreachable (%r); next try in %gs",
                                     exc, options.renew)
                    except Exception:  # the thread must outlive any bug of one round
                        logger.exception("broker leases: renewal failed")
            wait(min((o.renew for o in brokers.values()), default=1.0))

    def renew(self, broker: Broker, options: LeaseOptions) -> None:
        """One round: beat, renew, and write back what happened while Redis was away."""
        client = redis.Redis(connection_pool=self._registry.pool(broker))
        beat = leases.beat(client, broker.keys, options, uuid.uuid4().hex,
                           self._registry.renewable(broker))
        self._registry.set_epoch(broker, beat.epoch)
        orphans = self._registry.orphans(broker)
        acked = [o for o in orphans if o.state is Held.ACKED]
        missing = [o for o in orphans if o.state is not Held.ACKED
                   and o.epoch != beat.epoch and o.payload is not None]
        if not acked and not missing:
            return
        leases.write_back(client, broker.keys, [o.tag for o in acked],
                          [(o.tag, o.payload) for o in missing if o.payload is not None],
                          beat.now)
        for orphan in acked:
            self._registry.drop(broker, orphan)
        self._registry.registered(broker, missing, beat.epoch)
        if acked:
            logger.info("broker leases: %d acknowledgement(s) made while Redis was away are "
                        "done", len(acked))
        if missing:
            logger.warning("broker leases: %d delivery(ies) held here registered again: "
                           "Redis came back without them", len(missing))


KEEPER = Keeper(REGISTRY)
os.register_at_fork(after_in_child=KEEPER.reset)
