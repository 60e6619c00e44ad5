"""RabbitMQ's tier queues, declared before a worker consumes.

Each tier queue is a durable quorum queue on the tiers' topic exchange (`workers.queues`).
RabbitMQ refuses to declare a queue again with other arguments (PRECONDITION_FAILED, and
closes the channel): a classic queue of a tier's name, left by an older deployment, would
stop the worker with a traceback at its first declaration. `declare_tier_queues` declares
them first, each on a channel of its own, and turns that refusal into a `QueueTypeError`
naming the queue and the fix.

It declares every tier queue the app knows, not only those the worker consumes: Celery's
native delayed delivery (countdowns) binds each known queue to its delay exchanges when
the worker starts, and a binding needs its queue; a countdown published towards a queue
without one would be dropped.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from amqp.exceptions import PreconditionFailed
from kombu import Connection, Queue

from workers.broker.errors import QueueTypeError
from workers.contract import DEFAULT_QUEUE


class _DefaultExchangeNotice(logging.Filter):
    """kombu warns, at every worker start, that the default queue's direct exchange cannot
    take delayed messages: none is ever sent there (hops go to tier queues)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            f"Exchange {DEFAULT_QUEUE} is a direct exchange")


_NOTICE = _DefaultExchangeNotice()


def quiet_default_exchange_notice() -> None:
    # (a logger keeps one filter once, however often it is added)
    logging.getLogger("kombu.transport.native_delayed_delivery").addFilter(_NOTICE)


def is_quorum(queue: Queue) -> bool:
    return (queue.queue_arguments or {}).get("x-queue-type") == "quorum"


def declare_tier_queues(connection: Connection, queues: Iterable[Queue]) -> list[str]:
    """Declare the quorum queues among `queues` (with their exchange and binding); the
    names declared. Raises `QueueTypeError` for one that exists with other arguments."""
    declared = []
    for queue in queues:
        if not is_quorum(queue):
            continue
        channel: Any = connection.channel()  # (kombu's stub omits `close`)
        try:
            queue.bind(channel).declare()
        except PreconditionFailed as exc:
            raise QueueTypeError(queue.name, connection.virtual_host or "/",
                                 str(exc.reply_text)) from None
        finally:
            with contextlib.suppress(Exception):  # (closed by the broker after a refusal)
                channel.close()
        declared.append(queue.name)
    return declared

