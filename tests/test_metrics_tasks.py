"""Metrics after real tasks: a real worker runs `llm.run`, the endpoint is scraped over
HTTP, and the values match the ledger and the task results."""

from __future__ import annotations

import urllib.request
from collections import Counter, defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from routing.spend.ledger import Ledger
from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from workers.metrics.http import serve
from workers.metrics.source import RedisMetricsSource
from workers.settings import get_settings

Key = tuple[str, str, str]
KEYS = ["monitoring", "monitoring", "lookup", "code_review", "strategic_decision"]


def _scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _by_call(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
             **match: str) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for (sample, labels), value in samples.items():
        lab = dict(labels)
        if sample == name and all(lab.get(k) == v for k, v in match.items()):
            out[(lab["model_key"], lab["model"], lab["tier"])] = value
    return out


def test_scrape_after_real_tasks_matches_ledger_and_results(
    worker: Session, llm_server: LLMServer
) -> None:
    source = RedisMetricsSource(get_settings())
    server = serve(source, port=0)
    try:
        before = _scrape(server.port)
        run = worker.app.tasks["llm.run"]
        pending = [run.delay(model_key=key, prompt=f"metrics {i}") for i, key in enumerate(KEYS)]
        results = [p.get(timeout=30) for p in pending]
        after = _scrape(server.port)
        rows = Ledger(source.redis, worker.namespace).day_aggregates(source.today()[0]).rows
    finally:
        server.close()
        source.close()

    # The increase over the run is exactly what the tasks report.
    calls: Counter[Key] = Counter()
    spend: defaultdict[Key, float] = defaultdict(float)
    out_tokens: Counter[Key] = Counter()
    for res in results:
        key = (res["model_key"], res["model"], res["tier"])
        calls[key] += 1
        spend[key] += res["cost_usd"]
        out_tokens[key] += res["usage"]["output_tokens"]
    ok_before = _by_call(before, "llm_router_calls_total", outcome="ok")
    ok_after = _by_call(after, "llm_router_calls_total", outcome="ok")
    spend_before = _by_call(before, "llm_router_spend_usd_total")
    spend_after = _by_call(after, "llm_router_spend_usd_total")
    tok_before = _by_call(before, "llm_router_tokens_total", kind="output")
    tok_after = _by_call(after, "llm_router_tokens_total", kind="output")
    for key, n in calls.items():
        assert ok_after[key] - ok_before.get(key, 0) == n, key
        assert spend_after[key] - spend_before.get(key, 0) == pytest.approx(spend[key]), key
        assert tok_after[key] - tok_before.get(key, 0) == out_tokens[key], key

    # The totals are the ledger's, row for row.
    assert rows
    for row in rows:
        key = (row.model_key, row.model, row.tier)
        assert ok_after[key] == row.calls - row.errors
        assert spend_after[key] == pytest.approx(row.micros / 1e6)
    assert after[("llm_router_config_version", frozenset())] == worker.store.version()
    assert after[("llm_router_up", frozenset())] == 1
