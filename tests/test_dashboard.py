"""The Grafana dashboard against what `llm-router metrics --once` really exports.

The endpoint runs as a user runs it (a subprocess) on a test namespace holding a day of
ledger records of every kind (ok, error, fallback, escalation, downgrade, deferred run,
deferral, rejection) and the shipped budgets, so every metric family and label value the
dashboard may name is exported. Each panel query is parsed by a PromQL parser (after
Grafana's interval macros are replaced) and every metric, label matcher, grouping label and
legend label it names must be one the endpoint exports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser as pq
import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from routing.config.store import ConfigStore
from routing.errors import BudgetExceededError
from routing.evidence.review import store_review
from routing.prices.pricing import Usage, cost_micros
from routing.spend.call_record import CallRecord, Outcome
from routing.spend.ledger import Ledger
from tests.support.redis import delete_namespace

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "llm-router.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_MACROS = re.compile(r"\$__(rate_interval|interval|range)\b")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class Exported:
    """sample name -> label name -> the values exported."""

    labels: dict[str, dict[str, set[str]]] = field(default_factory=dict)


@dataclass
class Query:
    metrics: list[tuple[str, list[tuple[str, Any, str]]]] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)


def _settle_a_day(client: redis.Redis, namespace: str) -> None:
    config = ConfigStore(client, namespace).init(author="dashboard-test")
    ledger = Ledger(client, namespace)
    usage = Usage(2_000, 300, 1_000, 100)

    def record(i: int, key: str, **flags: Any) -> None:
        model = config.model_keys[key].model
        ledger.settle(CallRecord(f"t{i}", f"c{i}", key, model, config.models[model].tier,
                                 usage, cost_micros(usage, config.price_of(model)), **flags))

    record(0, "monitoring")
    record(1, "code_review", fallback=True)
    record(2, "classification", escalation=True)
    record(3, "lookup", downgrade=True)
    record(4, "strategic_decision", deferred=True)
    record(5, "large_context_coding", outcome=Outcome.error, error="overloaded")
    refusal = BudgetExceededError("model_key:monitoring", 1, 1, 0, 900, "2100-01-01T00:00:00Z")
    ledger.record_deferral(refusal, task_id="t6", call_id="c6", model_key="monitoring",
                           model="claude-haiku-4-5", tier="haiku")
    ledger.record_rejection(refusal, task_id="t7", call_id="c7", model_key="monitoring",
                            model="claude-haiku-4-5", tier="haiku")
    # a shadow trial, scored, and the routing review that reads it
    def trial(doc: dict[str, Any]) -> str:
        doc["model_keys"]["classification"]["trials"] = [
            {"candidate": "kimi-for-coding", "sample": 0.1, "daily_budget_usd": 1}]
        return "trial"

    config = ConfigStore(client, namespace).update(trial, author="dashboard-test")
    row = ("classification", "kimi-for-coding", "kimi")
    ledger.settle(CallRecord("t8", "trial:t8:kimi", *row, usage, 100, trial=True,
                             budgets=("trial:classification:kimi-for-coding",)))
    ledger.count(row, {"samples": 4, "agree": 3, "disagree": 1}, trial=True)
    store_review(ledger, config, days=1)


@pytest.fixture(scope="module")
def exported(redis_url: str) -> Iterator[Exported]:
    namespace = f"llmr-dash-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    try:
        _settle_a_day(client, namespace)
        env = {**os.environ, "LLM_ROUTER_REDIS_URL": redis_url,
               "LLM_ROUTER_NAMESPACE": namespace,
               "LLM_ROUTER_BROKER_PREFIX": f"{namespace}:broker:"}
        proc = subprocess.run([sys.executable, "-m", "cli", "metrics", "--once"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
    finally:
        client.close()
        delete_namespace(redis_url, namespace)
    out = Exported()
    for family in text_string_to_metric_families(proc.stdout):
        for sample in family.samples:
            labels = out.labels.setdefault(sample.name, {})
            for name, value in sample.labels.items():
                labels.setdefault(name, set()).add(value)
    assert out.labels.get("llm_router_up") == {}, proc.stdout
    yield out


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text("utf-8"))
    return doc


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target


def _walk(node: Any, query: Query) -> None:
    """Collect the selectors and grouping labels of a parsed PromQL expression."""
    if isinstance(node, pq.VectorSelector):
        matchers = [(m.name, m.op, m.value) for m in node.matchers.matchers]
        query.metrics.append((node.name, matchers))
    elif isinstance(node, pq.MatrixSelector):
        _walk(node.vector_selector, query)
    elif isinstance(node, pq.AggregateExpr):
        if node.modifier is not None:
            query.grouping.update(node.modifier.labels)
        _walk(node.expr, query)
    elif isinstance(node, pq.BinaryExpr):
        if node.modifier is not None and node.modifier.matching is not None:
            query.grouping.update(node.modifier.matching.labels)
        _walk(node.lhs, query)
        _walk(node.rhs, query)
    elif isinstance(node, pq.Call):
        for arg in node.args:
            _walk(arg, query)
    elif isinstance(node, pq.ParenExpr | pq.UnaryExpr | pq.SubqueryExpr):
        _walk(node.expr, query)
    else:
        assert isinstance(node, pq.NumberLiteral | pq.StringLiteral), type(node)


def parse(expr: str) -> Query:
    concrete = GRAFANA_MACROS.sub("5m", expr)
    assert "$" not in concrete, f"unknown Grafana variable in {expr!r}"
    query = Query()
    _walk(pq.parse(concrete), query)
    return query


def test_dashboard_is_valid_json_with_a_title_and_datasource_on_every_panel(
    dashboard: dict[str, Any],
) -> None:
    uid = yaml.safe_load(DATASOURCES.read_text("utf-8"))["datasources"][0]["uid"]
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["title"].strip(), panel
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target["expr"].strip() and target["refId"], panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, f"{panel['title']} is wider than the dashboard"
        mine = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


def problems(expr: str, exported: Exported, legend: str = "") -> list[str]:
    """What `expr` (and its legend) names that the endpoint does not export."""
    query = parse(expr)
    if not query.metrics:
        return ["names no metric"]
    found: list[str] = []
    names: set[str] = set()
    for metric, matchers in query.metrics:
        labels = exported.labels.get(metric)
        if labels is None:
            found.append(f"metric {metric} is not exported")
            continue
        names |= set(labels)
        for label, op, value in matchers:
            values = labels.get(label)
            if values is None:
                found.append(f"{metric} has no label {label}")
            elif op == pq.MatchOp.Equal and value not in values:
                found.append(f"no {label}={value!r} exported")
            elif op == pq.MatchOp.Re:
                found += [f"{label}=~{alt!r} matches nothing exported"
                          for alt in value.split("|")
                          if not any(re.fullmatch(alt, v) for v in values)]
    found += [f"groups by {g}, which no metric here has" for g in sorted(query.grouping - names)]
    shown = set(LEGEND_LABEL.findall(legend)) - (query.grouping or names)
    found += [f"legend shows {label}, which the result has not" for label in sorted(shown)]
    return found


def test_every_query_names_only_what_the_endpoint_exports(
    dashboard: dict[str, Any], exported: Exported
) -> None:
    checked = 0
    for title, target in _targets(dashboard):
        found = problems(target["expr"], exported, target.get("legendFormat", ""))
        assert not found, f"panel {title!r}: {target['expr']}: {found}"
        checked += 1
    assert checked >= 15


def test_the_panels_the_issue_asks_for(dashboard: dict[str, Any]) -> None:
    queries = [(title, parse(t["expr"]), t["expr"]) for title, t in _targets(dashboard)]
    by_metric: dict[str, set[str]] = defaultdict(set)
    for _, q, _ in queries:
        for metric, _ in q.metrics:
            by_metric[metric] |= q.grouping

    assert {"model_key", "model"} <= by_metric["llm_router_spend_usd_total"]
    assert 'basis="most_expensive"' in " ".join(
        e for _, _, e in queries if "llm_router_counterfactual_spend_usd_total" in e)
    assert "tier" in by_metric["llm_router_calls_total"]
    assert "tier" in by_metric["llm_router_queue_depth"]
    assert {"llm_router_budget_limit_usd", "llm_router_budget_spent_usd",
            "llm_router_budget_reserved_usd"} <= set(by_metric)
    assert "reason" in by_metric["llm_router_rerouted_calls_total"]
    drift = [e for _, _, e in queries if "llm_router_price_drift_ratio" in e]
    assert drift and all("{{model}}" in t["legendFormat"] for title, t in _targets(dashboard)
                         if "llm_router_price_drift_ratio" in t["expr"])
    # the routed line and the counterfactual lines share one panel
    assert any({"llm_router_spend_usd_total", "llm_router_counterfactual_spend_usd_total"}
               <= {m for t in p["targets"] for m, _ in parse(t["expr"]).metrics}
               for p in dashboard["panels"] if p["type"] == "timeseries")


def test_the_checker_refuses_what_is_not_exported(exported: Exported) -> None:
    """The check above can fail: a misspelt metric, label, value, grouping or legend."""
    assert problems("sum(llm_router_spend_usd)", exported) == [
        "metric llm_router_spend_usd is not exported"]
    assert problems('llm_router_calls_total{outcome="deffered"}', exported) == [
        "no outcome='deffered' exported"]
    assert problems('llm_router_calls_total{outcome=~"ok|eror"}', exported) == [
        "outcome=~'eror' matches nothing exported"]
    assert problems('llm_router_queue_depth{budget="overall"}', exported) == [
        "llm_router_queue_depth has no label budget"]
    assert problems("sum by (queue) (llm_router_spend_usd_total)", exported) == [
        "groups by queue, which no metric here has"]
    assert problems("sum by (tier) (llm_router_spend_usd_total)", exported,
                    "{{model}}") == ["legend shows model, which the result has not"]
    assert problems("1 + 1", exported) == ["names no metric"]
    with pytest.raises(ValueError):
        parse("sum by (tier) (rate(llm_router_calls_total[$__rate_interval])")
    with pytest.raises(AssertionError, match="unknown Grafana variable"):
        parse("rate(llm_router_calls_total[$interval])")
