"""Helpers of the budget, ledger and report tests (plain functions, no fixtures)."""

from __future__ import annotations

from typing import Any, TypeVar

import redis

from routing.config import RoutingConfig, load_config
from routing.defaults import default_document

T = TypeVar("T")


def config_with(budgets: dict[str, Any] | None = None, **prices: dict[str, Any]) -> RoutingConfig:
    """The shipped config with `budgets` replaced and some models' prices changed."""
    doc = default_document()
    doc["budgets"] = budgets or {}
    for model, price in prices.items():
        doc["models"][model.replace("_", "-")]["price"] = price
    return load_config(doc)


class CountingConnection(redis.Connection):
    """Counts round trips: one per packed send (a pipeline is one), with command names."""

    sent: list[str]
    round_trips: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.sent = []
        self.round_trips = 0

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        self.sent.append(str(args[0]).upper())
        super().send_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self.round_trips += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def counting_client(url: str) -> tuple[redis.Redis, CountingConnection]:
    """A single-connection client whose only connection counts what it sends."""
    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection,
                                         max_connections=1)
    client = redis.Redis(connection_pool=pool)
    client.ping()  # connect (handshake commands) before anything is counted
    conn = pool.get_connection()
    pool.release(conn)
    assert isinstance(conn, CountingConnection)
    conn.sent.clear()
    conn.round_trips = 0
    return client, conn
