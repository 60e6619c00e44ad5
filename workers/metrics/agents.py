"""Metrics per agent, with a bounded label set: the agents named in the config
(`budgets.agents`) and the top N others by the day's spend (LLM_ROUTER_METRICS_TOP_AGENTS)
are labelled; every other agent is counted under `other`. Runs and tags, unbounded, are
never labels (`cost report --by run|tag` has them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, Metric

from routing.money import usd
from workers.metrics.snapshot import Snapshot

OTHER = "other"
METRICS = ("calls", "errors", "micros", "input_tokens", "output_tokens")


def bounded(spend: Mapping[str, Mapping[str, int]], declared: Iterable[str], top: int
            ) -> dict[str, dict[str, int]]:
    """`spend` (agent -> counters) folded onto at most len(declared) + top + 1 labels."""
    keep = set(declared)
    others = sorted((a for a in spend if a not in keep),
                    key=lambda a: (-spend[a].get("micros", 0), a))
    keep.update(others[:top])
    out: dict[str, dict[str, int]] = {}
    for agent, counts in spend.items():
        label = agent if agent in keep and agent != OTHER else OTHER
        row = out.setdefault(label, {})
        for metric in METRICS:
            row[metric] = row.get(metric, 0) + int(counts.get(metric, 0))
    return out


def agent_metrics(snap: Snapshot) -> list[Metric]:
    created = snap.day_start
    calls = CounterMetricFamily(
        "llm_router_agent_calls", "Provider calls of attributed tasks by agent and outcome "
        "(ok, error), today (UTC); agents beyond the config's and the top N are `other`.",
        labels=["agent", "outcome"])
    spend = CounterMetricFamily(
        "llm_router_agent_spend_usd", "Spend in USD by agent, today (UTC).", labels=["agent"])
    tokens = CounterMetricFamily(
        "llm_router_agent_tokens", "Tokens by agent and kind (input, output), today (UTC).",
        labels=["agent", "kind"])
    for agent, row in sorted(snap.agents.items()):
        calls.add_metric([agent, "ok"], row["calls"] - row["errors"], created=created)
        calls.add_metric([agent, "error"], row["errors"], created=created)
        spend.add_metric([agent], usd(row["micros"]), created=created)
        for kind in ("input", "output"):
            tokens.add_metric([agent, kind], row[f"{kind}_tokens"], created=created)
    return [calls, spend, tokens]
