"""Helpers of the budget, ledger and report tests (plain functions, no fixtures)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import redis

from routing.config.defaults import default_document
from routing.config.load import load_config
from routing.config.models import RoutingConfig

T = TypeVar("T")

# The whole shipped catalog, written out again (base rates; the tests' calls stay below
# every long-context tier): model -> (in, out, cache read, cache write).
CATALOG = {
    "claude-opus-4-6": ("5", "25", "0.5", "6.25"),
    "claude-sonnet-4-6": ("3", "15", "0.3", "3.75"),
    "claude-sonnet-4-5": ("3", "15", "0.3", "3.75"),
    "claude-haiku-4-5": ("1", "5", "0.1", "1.25"),
    "kimi-for-coding": ("0.30", "1.50", "0.075", "0.30"),
    "gemini-2.5-pro": ("1.25", "10", "0.125", "1.25"),
    "gpt-4o": ("2.5", "10", "1.25", "2.5"),
}


def by_hand(model: str, tokens: tuple[int, ...], table: Mapping[str, tuple[str, ...]]) -> int:
    exact = sum((Decimal(n) * Decimal(p) for n, p in zip(tokens, table[model], strict=True)),
                Decimal(0))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


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
