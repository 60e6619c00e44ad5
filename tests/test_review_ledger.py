"""The routing review against a real Redis ledger: one definition of the monthly saving,
whatever the window, stated in the output; and `--apply`'s version check, first."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from routing.config.defaults import default_config
from routing.config.store import ConfigStore
from routing.evidence.per_key import SAVING_BASIS, key_evidence, observed_days
from routing.prices.pricing import Usage, cost_micros
from routing.spend.aggregates import AggregateRow, TrialRow
from routing.spend.call_record import CallRecord
from routing.spend.ledger import Ledger
from tests.support.cli import as_json, run
from tests.support.properties import bounded

HAIKU, KIMI = "claude-haiku-4-5", "kimi-for-coding"


@pytest.fixture
def store(env: dict[str, str], redis_client: redis.Redis, namespace: str) -> ConfigStore:
    """A deployment's store with a Kimi trial on classification, and today's calls: 40
    classifications on Haiku (1,000 in / 200 out) and the trial's 40 agreeing samples."""
    s = ConfigStore(redis_client, namespace)
    s.init(author="tests")

    def edit(doc: dict[str, Any]) -> str:
        doc["model_keys"]["classification"].update(
            trials=[{"candidate": KIMI, "sample": 1.0, "daily_budget_usd": "1"}],
            min_samples=20, min_agreement=0.8)
        return "trial"

    s.update(edit, author="tests")
    ledger = Ledger(redis_client, namespace)
    price = default_config().price_of(HAIKU)
    for i in range(40):
        usage = Usage(1000, 200)
        ledger.settle(CallRecord(task_id=f"t{i}", call_id=f"c{i}", model_key="classification",
                                 model=HAIKU, tier="haiku", usage=usage,
                                 cost_micros=cost_micros(usage, price)))
    ledger.count(("classification", KIMI, "kimi"), {"samples": 40, "agree": 40}, trial=True)
    return s


def test_the_monthly_saving_is_the_same_whatever_window_holds_the_same_data(
    store: ConfigStore,
) -> None:
    # Given one day of data (today's), seen through a 1-day window (what the demo asks)
    # and the CLI's default 30-day window
    one = as_json("review", "--days", "1")["model_keys"]["classification"]
    thirty = as_json("review")["model_keys"]["classification"]
    # Then both windows observed the key for one day, and give one saving
    assert (one["days_observed"], thirty["days_observed"]) == (1, 1)
    (t1,), (t30,) = one["trials"], thirty["trials"]
    # 40 calls x (1,000 x 1 + 200 x 5 - 1,000 x 0.30 - 200 x 1.50 = 1,400) micros a day
    # (Haiku at the catalog's 1/5, Kimi at 0.30/1.50), x 30 days: $1.68 a month
    assert t1["monthly_saving_micros"] == t30["monthly_saving_micros"] == 40 * 1400 * 30
    assert one["recommendation"] == thirty["recommendation"]
    assert thirty["recommendation"]["action"] == "switch"
    assert thirty["recommendation"]["monthly_saving_usd"] == 1.68
    # and the output says how the figure is made
    assert as_json("review")["saving_basis"] == SAVING_BASIS
    assert SAVING_BASIS in run("review").stdout


def test_a_stale_expect_version_is_a_conflict_before_anything_else(
    store: ConfigStore,
) -> None:
    version = store.version()
    # lookup's review says keep (no trial), so without a version check it is exit 1
    assert "recommends no change" in run("review", "--apply", "lookup", code=1).stderr
    # With a stale version: the conflict (exit 3), whatever the review would say
    for key in ("lookup", "classification", "no_such_key"):
        stale = run("review", "--apply", key, "--expect-version", str(version - 1), code=3)
        assert "conflict" in stale.stderr and f"holds version {version}" in stale.stderr
    assert store.version() == version  # nothing written
    # the current version gets the answer the review gives
    run("review", "--apply", "lookup", "--expect-version", str(version), code=1)


def _row(calls: int) -> AggregateRow:
    return AggregateRow("classification", HAIKU, "haiku", calls=calls, successes=calls,
                        input_tokens=1000 * calls, output_tokens=200 * calls,
                        micros=1600 * calls, tasks=calls)


@bounded(100)
@given(calls=st.lists(st.integers(0, 50), min_size=1, max_size=40),
       before=st.integers(0, 60))
def test_empty_days_before_the_first_call_do_not_change_the_saving(
    calls: list[int], before: int
) -> None:
    # Given days of calls (0 on some), seen through their own window and through one
    # that starts `before` empty days earlier
    cfg = default_config()
    trials = [TrialRow("classification", KIMI, "kimi", samples=1, agree=1, calls=1)]
    days = [(f"d{i}", [_row(n)] if n else []) for i, n in enumerate(calls)]
    wider = [(f"e{i}", []) for i in range(before)] + days

    def saving(window: list[tuple[str, list[AggregateRow]]]) -> Any:
        prod = [r for _, rows in window for r in rows]
        entry = key_evidence(cfg, len(window), prod, trials, observed_days(window))
        return entry["classification"]["trials"][0]["monthly_saving_micros"]

    # Then the saving is the same: scaled by the days observed, not the window's length
    assert saving(days) == saving(wider)
