"""The last reconciliation of each provider (`llm-router cost reconcile`, or its daily
Beat job): the bill minus the ledger in USD over its days, the differences beyond
tolerance, and when it ran (gauges, from the stored result)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric

from routing.money import usd
from workers.metrics.snapshot import Snapshot


def reconcile_metrics(snap: Snapshot) -> list[Metric]:
    difference = GaugeMetricFamily(
        "llm_router_reconcile_difference_usd", "The provider's bill minus the ledger's "
        "spend in USD, over the days of the provider's last reconciliation.",
        labels=["provider"])
    gaps = GaugeMetricFamily(
        "llm_router_reconcile_gaps", "Differences beyond tolerance found by the provider's "
        "last reconciliation (0: the ledger agrees with the bill).", labels=["provider"])
    when = GaugeMetricFamily(
        "llm_router_reconcile_timestamp_seconds", "When the provider's last reconciliation "
        "ran (unix seconds).", labels=["provider"])
    for provider, doc in sorted(snap.reconciliations.items()):
        difference.add_metric([provider], usd(int(doc.get("difference_micros") or 0)))
        gaps.add_metric([provider], len(doc.get("gaps") or []))
        stamp = str(doc.get("generated_at") or "")
        if stamp:
            when.add_metric([provider],
                            datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    return [difference, gaps, when]
