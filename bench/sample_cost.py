"""Recorded samples: what recording one costs a sampled task, beside what its call's
accounting already costs it. Standalone (not in `python -m bench`'s table):

    .venv/bin/python -m bench.sample_cost [--redis-url URL] [--per-round N] [--rounds R]

Side by side in one run, interleaved rounds on one client: `SampleStore.record` of a
typical sample (a classification call: ~2 KB of JSON, with the count cap trimming on
every write) against a ledger reserve + settle of one call (`Budgets.reserve` then
`Ledger.settle`, as every task pays). Prints Redis round trips per record and the
ratio of their rates. Recording runs after the result is stored, only for the sampled
share; this says what it adds when it runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.env import bench_redis_url
from routing.config.defaults import default_config
from routing.config.samples import SampleSpec
from routing.prices.pricing import Usage
from routing.samples.store import SampleStore
from routing.spend.budget import BudgetBook
from routing.spend.call_record import CallRecord
from routing.spend.ledger import Ledger
from tests.support.spend import counting_client

SAMPLE = {
    "id": "x", "task_name": "tasks.classification", "model_key": "classification",
    "model": "claude-haiku-4-5", "config_version": 1, "recorded_at": 0.0,
    "call": {"model_key": "classification", "system": "Classify the text. " * 40,
             "messages": [{"role": "user", "content": "An email about an invoice. " * 30}],
             "max_tokens": None, "given": {"text": "An email about an invoice.",
                                           "labels": ["billing", "support", "spam"]}},
    "answer": {"text": '{"label": "billing", "confidence": 0.9}',
               "output": {"label": "billing", "confidence": 0.9}},
    "usage": {"input_tokens": 420, "output_tokens": 14}, "cost_micros": 490,
    "latency_ms": 350.0,
}


def _records(store: SampleStore, spec: SampleSpec, n: int) -> None:
    for _ in range(n):
        store.record("classification", uuid.uuid4().hex, SAMPLE, spec)


def _calls(budgets: BudgetBook, ledger: Ledger, n: int) -> None:
    cfg = default_config()
    for _ in range(n):
        call_id = uuid.uuid4().hex
        held = budgets.reserve(cfg, "classification", call_id, 5000)
        assert held.held
        ledger.settle(CallRecord(task_id=call_id, call_id=call_id,
                                 model_key="classification", model="claude-haiku-4-5",
                                 tier="haiku", usage=Usage(420, 14), cost_micros=490,
                                 config_version=cfg.version))


def _rate(fn: object, n: int) -> float:
    start = time.perf_counter()
    fn(n)  # type: ignore[operator]
    return n / (time.perf_counter() - start)


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url")
    parser.add_argument("--per-round", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url, note = bench_redis_url(args.redis_url, os.environ)
    if note:
        print(note, file=sys.stderr)
    namespace = f"llmr-bench-{uuid.uuid4().hex[:10]}"
    spec = SampleSpec(share=1.0, max_count=200, max_bytes=65536, retention_days=1)
    client, conn = counting_client(url)
    plain = redis.Redis.from_url(url)
    try:
        counted = SampleStore(client, namespace)
        _records(counted, spec, 1)  # loads the script
        conn.round_trips = 0
        _records(counted, spec, 100)
        trips = conn.round_trips / 100
        store = SampleStore(plain, namespace)
        budgets = BudgetBook(plain, namespace)
        ledger = Ledger(plain, namespace, keep_days=1)
        _calls(budgets, ledger, 1)
        record_rates, call_rates = [], []
        for _ in range(args.rounds):
            record_rates.append(_rate(lambda k: _records(store, spec, k), args.per_round))
            call_rates.append(_rate(lambda k: _calls(budgets, ledger, k), args.per_round))
        records, calls = statistics.median(record_rates), statistics.median(call_rates)
        print(f"sample record: {trips:.2f} Redis round trips, {records:,.0f} records/s; "
              f"a call's reserve + settle: {calls:,.0f} calls/s; one record costs "
              f"{calls / records:.2f}x a call's accounting (median of {args.rounds} rounds "
              f"of {args.per_round}, interleaved, {len(str(SAMPLE))} B sample)")
    finally:
        for key in plain.scan_iter(match="{" + namespace + "}*", count=1000):
            plain.delete(key)
        client.close()
        plain.close()


if __name__ == "__main__":
    main()
