"""Budgets against a real Redis: reservation arithmetic, concurrency, windows, expiry."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from routing.config.models import RoutingConfig
from routing.errors import BudgetExceededError
from routing.prices.pricing import Usage
from routing.spend.budget import BudgetBook, Reservation, Window, budgets_apply, seconds_until
from routing.spend.call_record import CallRecord
from routing.spend.ledger import Ledger
from tests.support.spend import config_with, counting_client
from tests.support.wait import wait_until

HAIKU = "claude-haiku-4-5"


def record(call_id: str, cost: int, model_key: str = "monitoring") -> CallRecord:
    return CallRecord(task_id=f"task-{call_id}", call_id=call_id, model_key=model_key,
                      model=HAIKU, tier="haiku", usage=Usage(10, 5), cost_micros=cost)


def status_of(book: BudgetBook, cfg: RoutingConfig, name: str) -> dict[str, Any]:
    return next(s.as_dict() for s in book.status(cfg) if s.budget == name)


def test_reserve_then_settle_moves_the_hold_to_the_actual_spend(
    redis_client: redis.Redis, namespace: str
) -> None:
    # Given an overall budget of $1 and a monitoring budget of $0.10
    cfg = config_with({"daily_usd": 1, "model_keys": {"monitoring": {"daily_usd": 0.1}}})
    book, ledger = BudgetBook(redis_client, namespace), Ledger(redis_client, namespace)
    # When a call reserves 40,000 micros
    res = book.reserve(cfg, "monitoring", "c1", 40_000)
    # Then both budgets hold it
    assert res.held and res.window is not None
    for name, limit in (("overall", 1_000_000), ("model_key:monitoring", 100_000)):
        s = status_of(book, cfg, name)
        assert (s["limit_micros"], s["spent_micros"], s["reserved_micros"]) == (limit, 0, 40_000)
        assert s["remaining_micros"] == limit - 40_000
    # When it settles at 12,345 micros, the rest is released
    settled = ledger.settle(record("c1", 12_345), window_seconds=cfg.budgets.window_seconds)
    assert settled.released_micros == 40_000 and not settled.duplicate
    for name, limit in (("overall", 1_000_000), ("model_key:monitoring", 100_000)):
        s = status_of(book, cfg, name)
        assert (s["spent_micros"], s["reserved_micros"]) == (12_345, 0)
        assert s["remaining_micros"] == limit - 12_345
    # And settling the same call again changes nothing
    assert ledger.settle(record("c1", 12_345)).duplicate
    assert status_of(book, cfg, "overall")["spent_micros"] == 12_345


def test_reserving_a_call_id_twice_holds_once(redis_client: redis.Redis, namespace: str) -> None:
    cfg = config_with({"daily_usd": 1})
    book = BudgetBook(redis_client, namespace)
    book.reserve(cfg, "lookup", "same", 1000)
    book.reserve(cfg, "lookup", "same", 1000)
    assert status_of(book, cfg, "overall")["reserved_micros"] == 1000


def test_fifty_concurrent_reservations_against_room_for_ten(
    redis_url: str, namespace: str
) -> None:
    # Given a budget that admits exactly 10 calls of 7,000 micros worst case
    needed = 7_000
    cfg = config_with({"model_keys": {"classification": {"daily_usd": "0.07"}}})
    client = redis.Redis.from_url(redis_url, max_connections=60)
    book, ledger = BudgetBook(client, namespace), Ledger(client, namespace)

    def attempt(i: int) -> Reservation | BudgetExceededError:
        try:
            return book.reserve(cfg, "classification", f"call-{i}", needed)
        except BudgetExceededError as exc:
            return exc

    # When 50 threads reserve at once
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(attempt, range(50)))
    held = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    # Then exactly 10 hold and 40 are refused, naming the budget
    assert len(held) == 10 and len(refused) == 40
    assert {e.budget for e in refused} == {"model_key:classification"}
    assert all(e.spent_micros + e.reserved_micros + needed > e.limit_micros for e in refused)
    # And after settlement at actual costs (never above the worst case) spend stays in budget
    for r in held:
        cost = random.randint(0, needed)
        ledger.settle(record(r.call_id, cost, "classification"))
    s = status_of(book, cfg, "model_key:classification")
    assert s["reserved_micros"] == 0
    assert s["spent_micros"] <= 70_000
    client.close()


def test_key_budget_and_overall_budget_are_checked_separately(
    redis_client: redis.Redis, namespace: str
) -> None:
    cfg = config_with({"daily_usd": "0.01", "model_keys": {"monitoring": {"daily_usd": "0.004"}}})
    book = BudgetBook(redis_client, namespace)
    book.reserve(cfg, "monitoring", "m1", 4_000)
    # The monitoring budget is full; the overall one is not
    with pytest.raises(BudgetExceededError) as key_err:
        book.reserve(cfg, "monitoring", "m2", 1)
    assert key_err.value.budget == "model_key:monitoring"
    # Another key has no budget of its own, so only the overall budget limits it
    book.reserve(cfg, "lookup", "l1", 6_000)
    with pytest.raises(BudgetExceededError) as overall_err:
        book.reserve(cfg, "lookup", "l2", 1)
    assert overall_err.value.budget == "overall"
    assert overall_err.value.reserved_micros == 10_000


def test_budget_error_names_budget_spent_and_reset_time(
    redis_client: redis.Redis, namespace: str
) -> None:
    cfg = config_with({"model_keys": {"strategic_decision": {"daily_usd": "0.5"}}})
    book, ledger = BudgetBook(redis_client, namespace), Ledger(redis_client, namespace)
    book.reserve(cfg, "strategic_decision", "s1", 400_000)
    ledger.settle(record("s1", 300_000, "strategic_decision"))
    with pytest.raises(BudgetExceededError) as err:
        book.reserve(cfg, "strategic_decision", "s2", 250_000)
    exc = err.value
    assert (exc.budget, exc.limit_micros, exc.spent_micros, exc.reserved_micros,
            exc.needed_micros) == ("model_key:strategic_decision", 500_000, 300_000, 0, 250_000)
    # with the default window of 86400 s it resets at the next UTC midnight
    today = datetime.now(UTC).date()
    tomorrow = datetime.fromordinal(today.toordinal() + 1).date().isoformat()
    assert exc.resets_at in (f"{tomorrow}T00:00:00Z", f"{today.isoformat()}T00:00:00Z")
    assert "model_key:strategic_decision" in str(exc) and exc.resets_at in str(exc)
    assert "$0.300000" in str(exc)
    assert 0 <= seconds_until(exc.resets_at) <= 86400


def test_the_window_resets(redis_client: redis.Redis, namespace: str) -> None:
    # Given a 2-second window whose budget is spent
    cfg = config_with({"window_seconds": 2, "model_keys": {"monitoring": {"daily_usd": "0.001"}}})
    book, ledger = BudgetBook(redis_client, namespace), Ledger(redis_client, namespace)
    for attempt in range(3):  # a fill that straddles a reset is simply redone
        first = book.reserve(cfg, "monitoring", f"fill-{attempt}", 1_000)
        ledger.settle(record(f"fill-{attempt}", 1_000), window_seconds=2)
        try:
            book.reserve(cfg, "monitoring", f"probe-{attempt}", 1)
        except BudgetExceededError as exc:
            assert first.window is not None and exc.resets_at == first.window.resets_at
            break
    else:
        pytest.fail("could not fill the budget within one window")

    # When the window passes, the same call is admitted again, in a later window
    def admitted() -> Reservation | None:
        try:
            return book.reserve(cfg, "monitoring", f"after-{uuid.uuid4().hex}", 1_000)
        except BudgetExceededError:
            return None

    later = wait_until(admitted, timeout=6, interval=0.05)
    assert later.window is not None and first.window is not None
    assert later.window.index > first.window.index
    assert later.window.start == later.window.index * 2


def test_a_reservation_never_settled_is_charged_at_its_bound(
    redis_client: redis.Redis, namespace: str
) -> None:
    # Given a reservation whose worker dies (never settles)
    cfg = config_with({"daily_usd": "0.003"})
    book = BudgetBook(redis_client, namespace, reservation_ttl=0.3)
    ledger = Ledger(redis_client, namespace)
    book.reserve(cfg, "lookup", "crashed", 2_000, model="claude-haiku-4-5", tier="haiku")
    with pytest.raises(BudgetExceededError):
        book.reserve(cfg, "lookup", "blocked", 1_001)
    # Then after its TTL it is charged at its reserved (worst-case) amount, marked
    # estimated: spend is never under-counted
    status = wait_until(lambda: (s := status_of(book, cfg, "overall"))["reserved_micros"] == 0
                        and s, timeout=5, interval=0.05)
    assert (status["spent_micros"], status["estimated_micros"]) == (2_000, 2_000)
    (row,) = ledger.day_aggregates(row_day(ledger)).rows
    assert (row.calls, row.micros, row.estimated_calls, row.estimated_micros) == (
        1, 2_000, 1, 2_000)
    assert ledger.calls(row_day(ledger))[-1]["outcome"] == "estimated"
    # the rest of the budget still admits what fits
    book.reserve(cfg, "lookup", "admitted", 1_000)
    # And a late settlement of the same call is a duplicate: counted once, at the bound
    assert ledger.settle(record("crashed", 500, "lookup")).duplicate
    assert status_of(book, cfg, "overall")["spent_micros"] == 2_000


def test_a_redelivered_task_settles_its_predecessors_open_reservation(
    redis_client: redis.Redis, namespace: str
) -> None:
    # Given a task whose first execution reserved a call and died before settling it
    cfg = config_with({})
    book, ledger = BudgetBook(redis_client, namespace), Ledger(redis_client, namespace)
    book.reserve(cfg, "lookup", "task-9:0:runA", 3_000, owner="task-9",
                 model="claude-haiku-4-5", tier="haiku")
    # When its redelivery makes and settles its own call
    book.reserve(cfg, "lookup", "task-9:0:runB", 3_000, owner="task-9",
                 model="claude-haiku-4-5", tier="haiku")
    ledger.settle(CallRecord(task_id="task-9", call_id="task-9:0:runB", model_key="lookup",
                             model="claude-haiku-4-5", tier="haiku", usage=Usage(10, 10),
                             cost_micros=48))
    # Then the lost call is in the ledger already, at its bound, marked estimated
    calls = {c["call_id"]: c for c in ledger.calls(row_day(ledger))}
    assert calls["task-9:0:runA"]["outcome"] == "estimated"
    assert calls["task-9:0:runA"]["cost_micros"] == 3_000
    assert calls["task-9:0:runB"]["cost_micros"] == 48
    overall = status_of(book, cfg, "overall")
    assert (overall["spent_micros"], overall["estimated_micros"],
            overall["reserved_micros"]) == (3_048, 3_000, 0)


def test_reserve_and_settle_are_one_round_trip_each(redis_url: str, namespace: str) -> None:
    cfg = config_with({"daily_usd": 5})
    client, conn = counting_client(redis_url)
    book, ledger = BudgetBook(client, namespace), Ledger(client, namespace)
    # warm-up: the first use of a script on a server may add one SCRIPT LOAD
    book.reserve(cfg, "lookup", "warm", 10)
    ledger.settle(record("warm", 5, "lookup"))
    conn.sent.clear()
    conn.round_trips = 0
    book.reserve(cfg, "lookup", "c1", 10)
    assert (conn.round_trips, conn.sent) == (1, ["EVALSHA"])
    ledger.settle(record("c1", 5, "lookup"))
    assert (conn.round_trips, conn.sent) == (2, ["EVALSHA", "EVALSHA"])
    client.close()


def test_without_budgets_a_call_still_reserves_one_trip_and_settles_one_trip(
    redis_url: str, namespace: str
) -> None:
    # No budget limits the key: the reservation is still the record of a call in flight
    # (so that one never settled is charged), one round trip; the settle is another
    cfg = config_with({})
    assert not budgets_apply(cfg, "lookup")
    client, conn = counting_client(redis_url)
    book, ledger = BudgetBook(client, namespace), Ledger(client, namespace)
    book.reserve(cfg, "lookup", "warm", 10)
    ledger.settle(record("warm", 5, "lookup"))
    conn.round_trips = 0
    res = book.reserve(cfg, "lookup", "c1", 10)
    assert res.held and conn.round_trips == 1
    ledger.settle(record("c1", 5, "lookup"))
    assert conn.round_trips == 2
    # spend is still tracked for display, without any limit
    overall = book.status(cfg)[0]
    assert (overall.budget, overall.limit_micros, overall.spent_micros) == ("overall", None, 10)
    assert overall.reserved_micros == 0
    assert overall.remaining_micros is None
    client.close()


def test_bad_input_names_the_field(redis_client: redis.Redis, namespace: str) -> None:
    cfg = config_with({"daily_usd": 1})
    book = BudgetBook(redis_client, namespace)
    with pytest.raises(ValueError, match="needed_micros"):
        book.reserve(cfg, "lookup", "c1", -1)
    with pytest.raises(ValueError, match="model_key: unknown model key 'nope'"):
        book.reserve(cfg, "nope", "c1", 1)
    with pytest.raises(ValueError, match="call_id"):
        book.reserve(cfg, "lookup", "", 1)
    with pytest.raises(ValueError, match="reservation ttl"):
        BudgetBook(redis_client, namespace, reservation_ttl=0)


def test_window_arithmetic() -> None:
    w = Window.at(86400 * 3 + 5, 86400)
    assert (w.index, w.start, w.end, w.resets_at) == (3, 259200, 345600, "1970-01-05T00:00:00Z")
    assert Window.at(59.9, 30).index == 1


def row_day(ledger: Ledger) -> str:
    """Today by the Redis server's clock (the ledger's day)."""
    seconds, _ = ledger.client.time()
    return datetime.fromtimestamp(int(seconds), UTC).date().isoformat()
