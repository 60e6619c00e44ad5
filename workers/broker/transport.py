"""kombu's Redis transport, hardened: `broker_transport = "workers.broker.transport:Transport"`
with a redis:// broker URL (`TlsTransport` with rediss://; the URL is unchanged).

A Redis restart no longer kills a busy worker. kombu's `Channel.close()` first reads the
reply of the pending BRPOP; with Redis gone that read raises before the channel is marked
closed, Celery's consumer ignores the error, detaches the transport, then closes the
channel again, and the second close rebuilds a connection pool from the detached
transport (`'NoneType' object has no attribute 'hostname'`): "Unrecoverable error", the
worker exits. Here a close completes whatever Redis does, a closed channel never builds
a pool from its transport (it uses one made from the parameters it had while attached),
and its deliveries are kept rather than pushed back while their tasks run (`qos.py`).

A dead worker's tasks run again within seconds instead of after the visibility timeout:
every delivery has a lease that its worker renews (`leases.py`, `keeper.py`), and the
other workers put back the deliveries whose lease expired.

Transport options, besides kombu's: `lease_timeout` (seconds, default 20),
`lease_renew_interval` (4), and kombu's `unacked_restore_interval`, the sweep period.
Consumers of the queues should all use this transport: one on plain kombu records no
leases, so its deliveries go back after the visibility timeout only (as before).
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import redis
from kombu import Connection
from kombu.transport import redis as kredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from workers.broker import TLS_TRANSPORT, TRANSPORT, internals
from workers.broker.errors import KombuChangedError
from workers.broker.internals import RedisChannelInternals
from workers.broker.keeper import KEEPER
from workers.broker.leases import CONNECT_TIMEOUT, LeaseKeys, LeaseOptions
from workers.broker.qos import QoS
from workers.broker.registry import REGISTRY, Broker

logger = logging.getLogger(__name__)


def _fail_fast(params: dict[str, Any]) -> dict[str, Any]:
    """Connection parameters that never block a worker long on an absent Redis."""
    out = dict(params)
    if "path" not in out:  # TCP (a unix socket has no connect timeout)
        out["socket_connect_timeout"] = min(
            out.get("socket_connect_timeout") or CONNECT_TIMEOUT, CONNECT_TIMEOUT)
    out["socket_timeout"] = out.get("socket_timeout") or 10
    out["retry"] = Retry(NoBackoff(), 0)
    return out


class Channel(kredis.Channel):
    QoS = QoS

    lease_timeout: float = LeaseOptions.timeout
    lease_renew_interval: float = LeaseOptions.renew
    unacked_lease_key = "unacked_lease"
    unacked_clock_key = "unacked_clock"
    #: Tests only: seconds to pause between receiving a message and recording it.
    pause_before_record: float = 0.0
    from_transport_options = (
        *kredis.Channel.from_transport_options,
        "lease_timeout", "lease_renew_interval", "unacked_lease_key", "unacked_clock_key",
        "pause_before_record",
    )

    # kombu's, absent from its type stubs
    connection_errors: tuple[type[BaseException], ...]
    unacked_restore_interval: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        problems = internals.instance_problems("Channel", self)
        if problems:
            raise KombuChangedError(internals.refusal(problems))
        self.lease = LeaseOptions(float(self.lease_timeout), float(self.lease_renew_interval))
        params = cast(RedisChannelInternals, self)._connparams(asynchronous=False)
        where = params.get("path") or f"{params.get('host')}:{params.get('port')}"
        prefix = self.global_keyprefix
        self.broker = Broker(
            address=f"{where}/{params.get('db')}",
            keys=LeaseKeys(
                unacked=prefix + self.unacked_key,
                index=prefix + self.unacked_index_key,
                lease=prefix + self.unacked_lease_key,
                clock=prefix + self.unacked_clock_key,
            ),
        )
        REGISTRY.add_pool(self.broker, _fail_fast(params))
        # (pool, client): one client for the channel's pool, see conn_or_acquire
        self._client_of_pool: tuple[Any, redis.Redis] | None = None

    def detached(self) -> bool:
        """Closed, or its transport detached: nothing may be derived from the transport."""
        connection: Any = self.connection
        return bool(self.closed or connection is None or connection.client is None)

    @contextmanager
    def conn_or_acquire(self, client: redis.Redis | None = None) -> Iterator[redis.Redis]:
        if client:
            yield client
        elif self.detached():
            # kombu would rebuild its pool from the detached transport (the crash)
            yield self.Client(connection_pool=REGISTRY.pool(self.broker))
        else:
            # kombu builds a new redis-py client for every command outside the event loop
            # (each event publish, ack, QoS update: 5-10 per task), ~50 us of CPU each as
            # it copies its response callbacks. A client is thread-safe (it takes a
            # connection from the pool per command): one per pool serves them all.
            pool = self.pool
            cached = self._client_of_pool
            if cached is None or cached[0] is not pool:  # first use, or a new pool
                cached = (pool, cast(RedisChannelInternals, self)._create_client())
                self._client_of_pool = cached
            yield cached[1]

    def lease_client(self) -> redis.Redis:
        """A client without the key prefix (lease keys carry it in their names)."""
        pool = REGISTRY.pool(self.broker) if self.detached() else self.pool
        return redis.Redis(connection_pool=cast(redis.ConnectionPool, pool))

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        no_ack = kwargs.get("no_ack", args[0] if args else False)
        if not no_ack:  # this process will hold deliveries: renew their leases
            KEEPER.watch(self.broker, self.lease)
        return super().basic_consume(queue, *args, **kwargs)

    def close(self) -> None:
        kombu = cast(RedisChannelInternals, self)
        if kombu._in_poll and not self.closed:
            try:
                kombu._brpop_read()
            except queue.Empty:
                pass
            except self.connection_errors:
                # Redis is gone: the reply is lost, and so is the message in it, if any
                # (it was still in its queue when Redis went, if Redis kept its data).
                logger.debug("broker: BRPOP reply lost at close", exc_info=True)
        try:
            super().close()
        except self.connection_errors:
            # e.g. deleting auto-delete fanout queues on a dead server: finish without them
            if not self.closed:
                self.auto_delete_queues = set()
                super().close()


class Transport(kredis.Transport):
    Channel = Channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        internals.require()
        super().__init__(*args, **kwargs)


class TlsTransport(Transport):
    """`Transport`, named for rediss:// URLs."""


# kombu writes a connection's URL with its transport's name as the scheme (logs, Celery's
# banner, Flower, which picks its broker client by that scheme): show ours as Redis.
Connection.resolve_aliases.update({TRANSPORT: "redis", TLS_TRANSPORT: "rediss"})
