"""A provider call's settle that cannot reach Redis is retried, and counted once.

The task layer's `Accounting.settle` against a real Redis behind a TCP proxy that the test
cuts (Redis unreachable), and against a first attempt that ran but whose reply was lost.
The whole path (a worker, Redis stopped for 5 and 60 s) is tests/test_settle_outage.py.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from routing.config.models import RoutingConfig
from routing.keys import candidate_days
from routing.prices.pricing import Usage
from routing.router import Router
from routing.spend.budget import BudgetBook, BudgetStatus, Reservation
from routing.spend.ledger import Ledger, Settlement
from tests.support.spend import config_with
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import wait_until
from workers.execution.accounting import Accounting
from workers.execution.route_state import RouteState
from workers.execution.runtime import Runtime
from workers.settings import Settings

COST = 1234


@pytest.fixture
def proxied(redis_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy to the test Redis, and the test Redis URL through it."""
    parts = urlsplit(redis_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 6379)).start()
    yield proxy, proxy.url(int(parts.path.strip("/") or 0))
    proxy.cut()


def runtime(url: str, namespace: str, retry_seconds: float) -> Runtime:
    settings = Settings(**{"LLM_ROUTER_REDIS_URL": url, "LLM_ROUTER_NAMESPACE": namespace,
                           "LLM_ROUTER_SETTLE_RETRY_SECONDS": str(retry_seconds)})
    # No retries of redis-py's own: each failed attempt shows at once
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2,
                                  retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    return Runtime(settings, client=client)


def held_call(rt: Runtime, cfg: RoutingConfig) -> tuple[Accounting, RouteState, Reservation]:
    accounting = Accounting(rt, f"task-{uuid.uuid4().hex[:8]}", cfg)
    state = RouteState.initial(Router(cfg).decide("monitoring"))
    return accounting, state, accounting.reserve(cfg, state, 50_000)


def rows(client: redis.Redis, namespace: str, call_id: str) -> list[dict[str, Any]]:
    """The ledger rows of `call_id` (any day around today)."""
    ledger = Ledger(client, namespace)
    return [r for day in candidate_days() for r in ledger.calls(day)
            if r["call_id"] == call_id]


def overall(client: redis.Redis, namespace: str, cfg: RoutingConfig) -> BudgetStatus:
    return BudgetBook(client, namespace).status(cfg)[0]


def test_a_settle_while_redis_is_unreachable_completes_once_it_answers(
    proxied: tuple[TcpProxy, str], redis_client: redis.Redis, namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, url = proxied
    cfg = config_with({"daily_usd": 10})
    rt = runtime(url, namespace, retry_seconds=60)
    accounting, state, held = held_call(rt, cfg)
    # Given Redis unreachable when the provider's answer comes
    proxy.cut()
    done = threading.Event()
    failed: list[BaseException] = []

    def settle() -> None:
        try:
            accounting.settle(held, state, Usage(100, 20), COST)
        except BaseException as exc:
            failed.append(exc)
        finally:
            done.set()

    with caplog.at_level(logging.INFO, logger="workers.execution.accounting"):
        threading.Thread(target=settle, daemon=True).start()
        wait_until(lambda: "cannot be settled yet" in caplog.text or done.is_set(),
                   timeout=10, what="a first failed settle")
        assert not done.is_set(), f"the settle gave up at once: {failed}"
        # When Redis answers again
        proxy.restore()
        assert done.wait(30), "the settle never completed"
    # Then the call is settled: one ledger row, its cost charged once, nothing reserved
    assert not failed, failed
    assert len(rows(redis_client, namespace, held.call_id)) == 1
    status = overall(redis_client, namespace, cfg)
    assert (status.spent_micros, status.reserved_micros) == (COST, 0)


def test_a_settle_whose_reply_was_lost_is_retried_and_counted_once(
    redis_url: str, redis_client: redis.Redis, namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config_with({"daily_usd": 10})
    rt = runtime(redis_url, namespace, retry_seconds=60)
    accounting, state, held = held_call(rt, cfg)
    ledger = rt.ledger
    real = ledger.settle
    attempts: list[Settlement] = []

    def applied_then_lost(*args: Any, **kwargs: Any) -> Settlement:
        # Given a first attempt that Redis ran whole, but whose reply never came back
        out = real(*args, **kwargs)
        attempts.append(out)
        if len(attempts) == 1:
            raise redis.ConnectionError("Connection closed by server.")
        return out

    monkeypatch.setattr(ledger, "settle", applied_then_lost)
    # When the task layer settles the call
    accounting.settle(held, state, Usage(100, 20), COST)
    # Then it tried again, the retry found the call settled, and it is counted once
    assert [a.duplicate for a in attempts] == [False, True]
    assert len(rows(redis_client, namespace, held.call_id)) == 1
    status = overall(redis_client, namespace, cfg)
    assert (status.spent_micros, status.reserved_micros) == (COST, 0)


def test_a_settle_gives_up_after_its_bound(
    proxied: tuple[TcpProxy, str], redis_client: redis.Redis, namespace: str,
) -> None:
    proxy, url = proxied
    cfg = config_with({"daily_usd": 10})
    rt = runtime(url, namespace, retry_seconds=0.5)
    accounting, state, held = held_call(rt, cfg)
    # Given Redis unreachable for longer than LLM_ROUTER_SETTLE_RETRY_SECONDS
    proxy.cut()
    # Then the settle raises the connection error (the task fails; the call stays
    # reserved, charged at its bound once the reservation expires)
    with pytest.raises(redis.ConnectionError):
        accounting.settle(held, state, Usage(100, 20), COST)
    assert rows(redis_client, namespace, held.call_id) == []
    status = overall(redis_client, namespace, cfg)
    assert status.reserved_micros == held.needed_micros
