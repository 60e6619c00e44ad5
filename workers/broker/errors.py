"""Errors of the broker transport."""

from __future__ import annotations


class BrokerError(Exception):
    """Root of the broker transport's errors."""


class LeaseOptionsError(BrokerError, ValueError):
    """The lease transport options contradict each other; the message says how to fix."""


class KombuChangedError(BrokerError, RuntimeError):
    """The installed kombu lacks an internal this transport relies on: the message names
    each one and what to re-check before using this kombu."""


class QueueTypeError(BrokerError, RuntimeError):
    """A tier queue on RabbitMQ exists with other arguments than this release declares (a
    classic queue an older deployment left): the message names it and how to replace it."""

    def __init__(self, queue: str, vhost: str, reason: str) -> None:
        self.queue = queue
        self.vhost = vhost
        super().__init__(
            f"RabbitMQ queue '{queue}' (vhost '{vhost}') exists but is not the durable "
            f"quorum queue this release declares ({reason}); an older deployment left it. "
            f"Drain it (let that deployment's workers empty it: `rabbitmqctl list_queues "
            f"-p {vhost} name messages` shows 0), then delete it with `rabbitmqctl "
            f"delete_queue -p {vhost} {queue}` and start this worker again: it declares "
            f"the queue as a quorum queue"
        )
