"""Provider batches' metrics: today's calls made through batches and what they saved
against direct prices (counters, from the ledger's day aggregates), and the batches not
over yet with the calls in them, by state (gauges, from the batch store)."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from routing.batches.store import OPEN, SUBMITTED, SUBMITTING
from routing.money import usd
from workers.metrics.snapshot import Snapshot

CALL_LABELS = ("model_key", "model", "tier")
# open: collecting calls; submitting: closed, on its way to the provider; submitted: at
# the provider (polled until its answers are delivered)
STATES = (OPEN, SUBMITTING, SUBMITTED)


def batch_metrics(snap: Snapshot) -> list[Metric]:
    calls = CounterMetricFamily(
        "llm_router_batch_calls", "Calls made through provider batches today (UTC), at the "
        "batch rate (also in llm_router_calls and llm_router_spend_usd).",
        labels=list(CALL_LABELS))
    saved = CounterMetricFamily(
        "llm_router_batch_saved_usd", "What today's (UTC) batched calls saved against the "
        "same tokens at direct prices, in USD.", labels=list(CALL_LABELS))
    for row in snap.rows:
        if row.batch_calls:
            labels = [row.model_key, row.model, row.tier]
            calls.add_metric(labels, row.batch_calls, created=snap.day_start)
            saved.add_metric(labels, usd(row.batch_saved_micros), created=snap.day_start)
    batches = GaugeMetricFamily(
        "llm_router_batches", "Provider batches not over yet, by state (open: collecting "
        "calls; submitting; submitted: at the provider).", labels=["state"])
    waiting = GaugeMetricFamily(
        "llm_router_batch_waiting_calls", "Calls in those batches, by the batch's state.",
        labels=["state"])
    for state in STATES:
        count, in_them = snap.batches.get(state, (0, 0))
        batches.add_metric([state], count)
        waiting.add_metric([state], in_them)
    return [calls, saved, batches, waiting]
