"""How many messages wait in a queue on RabbitMQ: a passive `queue.declare`'s message
count (messages ready for delivery; those delivered and not yet acknowledged are not
counted, as on Redis). Through py-amqp directly: the metrics know nothing of Celery.

A queue not declared yet (no producer or worker used it) counts 0: the passive declare
of a missing queue closes its channel, and the next queue is asked on a new one. One
connection, kept between scrapes and opened again when it was lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import amqp
from amqp.exceptions import NotFound

DEFAULT_PORTS = {"amqps": 5671}


@dataclass(frozen=True)
class AmqpAddress:
    """Where a broker URL points, as kombu reads it (`amqp://user:pass@host:port/vhost`;
    `//` at the end is the default vhost `/`)."""

    host: str
    userid: str
    password: str
    virtual_host: str
    ssl: bool

    @classmethod
    def from_url(cls, url: str) -> AmqpAddress:
        parts = urlsplit(url.split(";", 1)[0].strip())
        scheme = parts.scheme.lower()
        port = parts.port or DEFAULT_PORTS.get(scheme, 5672)
        return cls(
            host=f"{parts.hostname or '127.0.0.1'}:{port}",
            userid=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            virtual_host=unquote(parts.path[1:]) or "/",
            ssl=scheme == "amqps",
        )


class AmqpQueueDepths:
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.address = AmqpAddress.from_url(url)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: Any = None

    def queue_depths(self, queues: Iterable[str]) -> dict[str, int]:
        """Waiting messages per queue name (0 for a queue not declared yet). Raises
        `ConnectionError` naming the broker when it cannot be asked."""
        names = list(queues)
        with self._lock:
            try:
                try:
                    return self._count(names)
                except (OSError, amqp.exceptions.ConnectionError):
                    self._drop()  # a connection lost since the last scrape: once more
                    return self._count(names)
            except (OSError, amqp.exceptions.AMQPError) as exc:
                self._drop()
                a = self.address
                raise ConnectionError(f"RabbitMQ at {a.host} (vhost '{a.virtual_host}', "
                                      f"user '{a.userid}'): {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _count(self, names: list[str]) -> dict[str, int]:
        conn = self._connection()
        channel = conn.channel()
        depths: dict[str, int] = {}
        for name in names:
            try:
                _queue, count, _consumers = channel.queue_declare(name, passive=True)
            except NotFound:
                count, channel = 0, conn.channel()
            depths[name] = int(count)
        channel.close()
        return depths

    def _connection(self) -> Any:
        if self._conn is None or not self._conn.connected:
            self._drop()
            a = self.address
            conn = amqp.Connection(host=a.host, userid=a.userid, password=a.password,
                                   virtual_host=a.virtual_host, ssl=a.ssl,
                                   connect_timeout=self.timeout, read_timeout=self.timeout,
                                   write_timeout=self.timeout)
            conn.connect()
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except (OSError, amqp.exceptions.AMQPError):
                conn.collect()
