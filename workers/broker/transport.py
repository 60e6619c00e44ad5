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

No message is out of Redis between its queue and its delivery record: the worker claims
it (pop and record in one Lua script) instead of kombu's BRPOP (`claim.py`).

Transport options, besides kombu's: `lease_timeout` (seconds, default 20),
`lease_renew_interval` (4), `claim_wait_timeout` (0.1, see `claim.py`), and kombu's
`unacked_restore_interval`, the sweep period.
Consumers of the queues should all use this transport: one on plain kombu records no
leases, so its deliveries go back after the visibility timeout only (as before).
"""

from __future__ import annotations

import logging
import queue
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic, time
from typing import Any, cast

import redis
from kombu import Connection
from kombu.transport import redis as kredis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from redis.backoff import NoBackoff
from redis.retry import Retry

from workers.broker import TLS_TRANSPORT, TRANSPORT, claim, internals
from workers.broker.errors import KombuChangedError
from workers.broker.internals import RedisChannelInternals
from workers.broker.keeper import KEEPER
from workers.broker.leases import CONNECT_TIMEOUT, LeaseKeys, LeaseOptions
from workers.broker.qos import QoS
from workers.broker.registry import REGISTRY, Broker

logger = logging.getLogger(__name__)

#: Seconds a worker waits before claiming again after Redis refused a claim.
CLAIM_RETRY = 1.0


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
        "pause_before_record", "claim_wait_timeout",
    )
    #: Seconds an idle worker waits on its first queue before it claims again: a message
    #: on its other queues (a dispatching tier's second is Celery's default queue, where
    #: tasks sent by name land) or at other priorities waits up to this long for an idle
    #: worker (`claim.py`; what the waits cost an idle worker: docs/reliability.md).
    claim_wait_timeout: float = 0.1

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
        self._lease_client_of_pool: tuple[redis.ConnectionPool, redis.Redis] | None = None
        # What the command in flight on the BRPOP connection is: "claim", "wait", or None
        # (kombu's BRPOP: consumers without acknowledgements, see basic_consume)
        self._pending: str | None = None
        self._claim_next = True
        self._no_ack_queues: set[str] = set()
        self._retry_at = 0.0

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
        """A client without the key prefix (lease keys carry it in their names): one per
        pool, as `conn_or_acquire`'s (each acknowledgement takes it)."""
        pool = cast(redis.ConnectionPool, REGISTRY.pool(self.broker) if self.detached()
                    else self.pool)
        cached = self._lease_client_of_pool
        if cached is None or cached[0] is not pool:
            cached = (pool, redis.Redis(connection_pool=pool))
            self._lease_client_of_pool = cached
        return cached[1]

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        no_ack = kwargs.get("no_ack", args[0] if args else False)
        if no_ack:  # nothing to record: kombu's BRPOP (at most once anyway)
            self._no_ack_queues.add(queue)
        else:  # this process will hold deliveries: renew their leases
            KEEPER.watch(self.broker, self.lease)
        return super().basic_consume(queue, *args, **kwargs)

    def _brpop_start(self, timeout: float | None = None) -> None:
        """Claim (pop and record in one step), or wait for a message to claim, instead of
        kombu's BRPOP (`claim.py`)."""
        kombu = cast(RedisChannelInternals, self)
        queues = list(kombu._queue_cycle.consume(len(kombu._active_queues)))
        if not queues:
            return
        if any(q in self._no_ack_queues for q in queues):
            self._pending = None
            cast(Any, kredis.Channel)._brpop_start(self, timeout)
            return
        if self._retry_at and monotonic() < self._retry_at:
            return  # Redis refused the last claim: nothing in flight until then
        prefix = self.global_keyprefix
        if self._claim_next:
            keys = [prefix + kombu._q_for_pri(q, pri) for pri in kombu.priority_steps
                    for q in queues]
            command = claim.claim_command(self.broker.keys, keys, time(), uuid.uuid4().hex)
            self._pending = "claim"
        else:
            first = kombu._active_queues[0]
            command = claim.wait_command(prefix + first, float(self.claim_wait_timeout))
            self._pending = "wait"
        connection = kombu.client.connection
        kombu._in_poll = connection
        kombu._brpop_sent_at = monotonic()
        connection.send_command(*command)

    def _brpop_read(self, **options: Any) -> bool:
        pending, self._pending = self._pending, None
        kombu = cast(RedisChannelInternals, self)
        if pending is None:
            return bool(cast(Any, kredis.Channel)._brpop_read(self, **options))
        client = kombu.client
        try:
            try:
                reply = client.parse_response(
                    client.connection, "EVALSHA" if pending == "claim" else "BLMOVE",
                    **options)
            except self.connection_errors:
                client.connection.disconnect()  # the next poll reconnects, as kombu's
                raise
            except redis.exceptions.NoScriptError:  # Redis restarted: load it, claim again
                self.lease_client().script_load(claim.CLAIM.text)
                raise queue.Empty() from None
            except redis.exceptions.ResponseError as exc:  # e.g. a full noeviction Redis
                logger.warning("broker: Redis refused to hand out a message (%s); trying "
                               "again in %g s", exc, CLAIM_RETRY)
                self._retry_at = monotonic() + CLAIM_RETRY
                raise queue.Empty() from None
            self._retry_at = 0.0
            claimed = claim.parse(reply) if pending == "claim" else None
            # after a wait, claim; after a claim, claim again if it found a message
            self._claim_next = pending == "wait" or claimed is not None
            if claimed is None:
                raise queue.Empty()
            return self._deliver_claimed(claimed)
        finally:
            kombu._in_poll = None
            kombu._flush_brpop_reauth()

    def _deliver_claimed(self, claimed: claim.Claimed) -> bool:
        kombu = cast(RedisChannelInternals, self)
        dest = claimed.key[len(self.global_keyprefix):].rsplit(kombu.sep, 1)[0]
        kombu._queue_cycle.rotate(dest)
        if claimed.tag:
            claim.RECORDED[claimed.tag] = claimed.epoch
        try:
            self.connection._deliver(loads(bytes_to_str(claimed.item)), dest)
        finally:
            if claimed.tag:
                claim.RECORDED.pop(claimed.tag, None)
        return True

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
