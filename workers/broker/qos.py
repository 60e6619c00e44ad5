"""kombu's Redis QoS (ack emulation) with leases, and without losing deliveries when the
connection goes (see `leases.py`, `registry.py`, `outage.py`).

Differences with kombu's:
* a delivery is recorded with a lease (one Lua call, as kombu's one pipeline) and
  removed with it;
* an acknowledgement or rejection that cannot reach Redis (connection lost, channel
  closed) is kept and done later, never raised into Celery;
* when the channel closes in a worker that goes on (the connection was lost), its
  deliveries are kept as orphans instead of being pushed back to their queues while
  their tasks still run; at shutdown they go back as with kombu;
* each sweep (kombu's `restore_visible`, every `unacked_restore_interval` seconds) first
  settles orphans, then puts back the deliveries of other workers whose lease expired,
  then runs kombu's own sweep: the visibility timeout stays the outer bound.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from time import monotonic, sleep, time
from typing import Any, cast

import redis
from kombu.transport import redis as kredis
from kombu.transport.virtual import base as vbase
from kombu.utils.json import dumps

from workers.broker import claim, leases, outage, worker_state
from workers.broker.internals import Message, VirtualQoSInternals
from workers.broker.protocols import LeaseChannel
from workers.broker.registry import REGISTRY

logger = logging.getLogger(__name__)


def _payload(message: Message) -> str:
    """The `unacked` hash value of a delivery, as kombu writes it."""
    info = message.delivery_info
    return str(dumps([message._raw, info["exchange"], info["routing_key"]]))


class QoS(kredis.QoS):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0

    @property
    def lease_channel(self) -> LeaseChannel:
        """`self.channel`, this package's `transport.Channel` (typed as kombu's)."""
        return cast(LeaseChannel, self.channel)

    def _held(self) -> OrderedDict[str, Message]:
        return cast("OrderedDict[str, Message]", self._delivered)

    def append(self, message: Message, delivery_tag: str) -> None:
        channel = self.lease_channel
        if channel.pause_before_record:
            logger.warning("broker: pausing %g s before recording delivery %s (tests: "
                           "LLM_ROUTER_BROKER_PAUSE_BEFORE_RECORD)",
                           channel.pause_before_record, delivery_tag)
            sleep(channel.pause_before_record)
        # Claimed (popped and recorded in one step, `claim.py`), or else record it now
        epoch = claim.RECORDED.pop(delivery_tag, None)
        if epoch is None:
            payload = _payload(message)
            try:
                epoch = leases.append(channel.lease_client(), channel.broker.keys,
                                      delivery_tag, payload, time(), uuid.uuid4().hex)
            except channel.connection_errors:
                # Taken off its queue already: keep it, to put it back once reconnected
                REGISTRY.requeue(channel.broker, delivery_tag, payload,
                                 message.delivery_info["exchange"], recorded=False)
                raise
        REGISTRY.delivered(channel.broker, delivery_tag, epoch)
        vbase.QoS.append(self, message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        channel = self.lease_channel
        if not channel.detached():
            try:  # (kombu's is a MULTI/EXEC pipeline of the same removals: five replies)
                leases.remove(channel.lease_client(), channel.broker.keys, delivery_tag)
            except channel.connection_errors:
                pass
            else:
                REGISTRY.settled(channel.broker, delivery_tag)
                vbase.QoS.ack(self, delivery_tag)
                return
        REGISTRY.acked(channel.broker, delivery_tag)
        vbase.QoS.ack(self, delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        channel = self.lease_channel
        if not channel.detached():
            try:
                super().reject(delivery_tag, requeue=requeue)
            except channel.connection_errors:
                pass
            else:
                REGISTRY.settled(channel.broker, delivery_tag)
                return
        if requeue:
            message = self._held().get(delivery_tag)
            REGISTRY.requeue(
                channel.broker, delivery_tag, _payload(message) if message else None,
                message.delivery_info["exchange"] if message else "")
        else:
            REGISTRY.acked(channel.broker, delivery_tag)
        vbase.QoS.ack(self, delivery_tag)

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        with self.pipe_or_acquire(pipe) as p:
            return (p.zrem(self.unacked_index_key, delivery_tag)
                    .hdel(self.unacked_key, delivery_tag)
                    .zrem(self.lease_channel.unacked_lease_key, delivery_tag))

    def restore_unacked(self, client: Any | None = None) -> None:
        """The channel closes (kombu calls this once per channel)."""
        cast(VirtualQoSInternals, self)._flush()
        items = list(self._held().items())
        self._held().clear()
        channel = self.lease_channel
        if not worker_state.stopping():
            held = worker_state.held_requests()
            for tag, message in items:
                REGISTRY.orphan(channel.broker, tag, _payload(message),
                                message.delivery_info["exchange"], held.get(tag))
            if items:
                logger.warning("broker: connection lost with %d unacknowledged "
                               "delivery(ies): kept, and settled once reconnected", len(items))
            return
        # The worker stops: everything goes back now, as with kombu.
        with channel.conn_or_acquire(client) as conn:
            try:
                outage.settle(self, conn, final=True)
            except channel.connection_errors as exc:
                logger.error("broker: Redis unreachable at shutdown (%r): deliveries held "
                             "through an earlier outage go back when their leases expire",
                             exc)
            for tag, _message in items:
                try:
                    self.restore_by_tag(tag, client=conn)
                except channel.connection_errors as exc:
                    logger.error("broker: could not put back delivery %s at shutdown (%r): "
                                 "another worker will once its lease expires", tag, exc)
                REGISTRY.settled(channel.broker, tag)

    def restore_visible(self, start: int = 0, num: int = 10, interval: int = 10) -> None:
        channel = self.lease_channel
        if channel.detached():
            return
        now = monotonic()
        if now >= self._next_sweep:  # kombu calls this on every empty poll without a hub
            self._next_sweep = now + channel.unacked_restore_interval / 2
            try:
                with channel.conn_or_acquire() as client:
                    outage.settle(self, client)
                    self._sweep(client)
            except channel.connection_errors:
                raise
            except Exception:  # a bug here must not stop kombu's own sweep below
                logger.exception("broker: settling orphans or sweeping leases failed")
        super().restore_visible(start, num, interval)

    def _sweep(self, client: redis.Redis) -> None:
        """Put back the deliveries of other workers whose lease expired."""
        channel = self.lease_channel
        own = REGISTRY.renewable(channel.broker)
        for tag, age in leases.sweep(channel.lease_client(), channel.broker.keys,
                                     channel.lease, own):
            logger.warning("broker: the lease of delivery %s expired (not renewed for %.1f "
                           "s: its worker is gone); it goes back to its queue", tag, age)
            self.restore_by_tag(tag, client)
