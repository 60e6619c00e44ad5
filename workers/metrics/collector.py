"""Prometheus metrics of a deployment, computed from Redis at scrape time.

The ledger is the source of truth for calls, tokens and spend, and it lives in Redis; so
instead of counting in each worker process (which needs a shared multiprocess directory
and cannot add up several hosts), `RouterCollector` asks a `MetricsSource` for a
`Snapshot` on every scrape: the ledger's aggregates of the current UTC day, what the
day's tokens would have cost all on one model (priced from the config at scrape time, as
the cost report does), the budget status, the config version and the broker queue
depths. Any one process (the `llm-router metrics` server, or a worker with
LLM_ROUTER_METRICS_PORT) serves the same, correct totals for every worker on every host.

Counters are the current UTC day's totals (the ledger's day aggregates): they restart at
00:00 UTC, which Prometheus' `rate()` and `increase()` treat as a counter reset, and
each carries that instant as its `created` time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from routing.money import usd
from workers.metrics.agents import agent_metrics
from workers.metrics.batches import batch_metrics
from workers.metrics.reconcile import reconcile_metrics
from workers.metrics.snapshot import MetricsSource, Snapshot
from workers.metrics.trials import trial_metrics

log = logging.getLogger(__name__)

CALL_LABELS = ("model_key", "model", "tier")
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
REROUTE_REASONS = ("fallback", "escalation", "downgrade", "deferred")


def call_metrics(snap: Snapshot) -> list[Metric]:
    """Counters from the ledger's day aggregates."""
    created = snap.day_start
    calls = CounterMetricFamily(
        "llm_router_calls", "Provider calls by outcome (ok, error) and tasks refused for "
        "budget (deferred, rejected), today (UTC).", labels=[*CALL_LABELS, "outcome"],
    )
    tokens = CounterMetricFamily(
        "llm_router_tokens", "Tokens by kind (input, output, cache_read, cache_write), "
        "today (UTC).", labels=[*CALL_LABELS, "kind"],
    )
    spend = CounterMetricFamily(
        "llm_router_spend_usd", "Spend in USD as the ledger priced it, today (UTC).",
        labels=list(CALL_LABELS),
    )
    rerouted = CounterMetricFamily(
        "llm_router_rerouted_calls", "Calls served by a fallback, an escalation, a "
        "downgrade, or run after a budget deferral, today (UTC).",
        labels=[*CALL_LABELS, "reason"],
    )
    refused = CounterMetricFamily(
        "llm_router_route_headers_refused", "Tasks whose route header was refused (not "
        "sealed with LLM_ROUTER_HEADER_KEYS for that task: forged, or a key missing on a "
        "producer or worker) and routed afresh, by the model they were routed to, today (UTC).",
        labels=list(CALL_LABELS),
    )
    for row in snap.rows:
        labels = [row.model_key, row.model, row.tier]
        outcomes = {"ok": row.calls - row.errors, "error": row.errors,
                    "deferred": row.deferrals, "rejected": row.rejections}
        for outcome, count in outcomes.items():
            calls.add_metric([*labels, outcome], count, created=created)
        for kind in TOKEN_KINDS:
            tokens.add_metric([*labels, kind], getattr(row, f"{kind}_tokens"), created=created)
        spend.add_metric(labels, usd(row.micros), created=created)
        for reason in REROUTE_REASONS:
            rerouted.add_metric([*labels, reason], getattr(row, f"{reason}_calls"),
                                created=created)
        if row.route_headers_refused:
            refused.add_metric(labels, row.route_headers_refused, created=created)
    return [calls, tokens, spend, rerouted, refused]


def counterfactual_metrics(snap: Snapshot) -> list[Metric]:
    """What the day's tokens would have cost all on one model, at the config's prices."""
    family = CounterMetricFamily(
        "llm_router_counterfactual_spend_usd", "What today's tokens (UTC) would have cost "
        "all on one model at the config's current prices: basis most_expensive (the catalog "
        "model dearest for them) or orchestration_default (the orchestration key's model).",
        labels=["basis", "model"],
    )
    for basis, found in sorted(snap.counterfactuals.items()):
        if found is not None:
            family.add_metric([basis, found[0]], usd(found[1]), created=snap.day_start)
    return [family]


def budget_metrics(snap: Snapshot) -> list[Metric]:
    names = ("limit", "spent", "reserved", "remaining")
    docs = {
        "limit": "Budget limit of the current window in USD (budgets without a limit are "
                 "not listed).",
        "spent": "Spent in the current budget window, in USD.",
        "reserved": "Held by calls in flight in the current budget window, in USD.",
        "remaining": "What the budget still admits in the current window, in USD.",
    }
    families = {
        n: GaugeMetricFamily(f"llm_router_budget_{n}_usd", docs[n], labels=["budget"])
        for n in names
    }
    for status in snap.budgets:
        for n in names:
            micros: int | None = getattr(status, f"{n}_micros")
            if micros is not None:
                families[n].add_metric([status.budget], usd(micros))
    return list(families.values())


def state_metrics(snap: Snapshot) -> list[Metric]:
    version = GaugeMetricFamily(
        "llm_router_config_version", "Version of the routing config stored in Redis (0: none).",
        value=snap.config_version,
    )
    depth = GaugeMetricFamily(
        "llm_router_queue_depth", "Messages waiting in the broker queue of each tier.",
        labels=["tier", "queue"],
    )
    for tier, (queue, waiting) in sorted(snap.queue_depths.items()):
        depth.add_metric([tier, queue], waiting)
    stranded = GaugeMetricFamily(
        "llm_router_queue_stranded", "1 where messages wait in a tier's queue (or Celery's "
        "default queue of the dispatch tier) and no live worker consumes it, else 0 (as "
        "`llm-router tiers`: they wait until a worker starts).", labels=["tier", "queue"],
    )
    for (tier, queue), flag in sorted((snap.stranded or {}).items()):
        stranded.add_metric([tier, queue], 1 if flag else 0)
    drift = GaugeMetricFamily(
        "llm_router_price_drift_ratio", "Config price / catalog price (genai-prices, pinned) "
        "of each model: the compared rate furthest from 1, over every rate and long-context "
        "tier; 1 when they agree (models the catalog does not know are not listed).",
        labels=["model"],
    )
    for model, ratio in sorted(snap.price_drift.items()):
        drift.add_metric([model], ratio)
    return [version, depth, *([stranded] if snap.stranded is not None else []), drift]


class RouterCollector(Collector):
    """Reads a `Snapshot` from its source on every scrape; never raises out of a scrape."""

    def __init__(self, source: MetricsSource) -> None:
        self.source = source

    def describe(self) -> list[Metric]:
        # No describe-time Redis round trip when registering.
        return []

    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        try:
            snap = self.source.snapshot()
        except Exception:  # a scrape reports the failure as a value, not as an HTTP 500
            log.warning("metrics: reading the snapshot failed", exc_info=True)
            snap = None
        up = GaugeMetricFamily(
            "llm_router_up", "1 if the last scrape read Redis successfully, else 0.",
            value=0 if snap is None else 1,
        )
        if snap is not None:
            yield from call_metrics(snap)
            yield from counterfactual_metrics(snap)
            yield from budget_metrics(snap)
            yield from state_metrics(snap)
            yield from trial_metrics(snap)
            yield from batch_metrics(snap)
            yield from reconcile_metrics(snap)
            yield from agent_metrics(snap)
        yield up
        yield GaugeMetricFamily(
            "llm_router_scrape_duration_seconds", "Time spent reading Redis for this scrape.",
            value=time.monotonic() - started,
        )
