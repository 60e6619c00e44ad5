"""The shadow trials' metrics: today's samples by verdict and trial spend (counters, from
the trial day aggregates), and the agreement of the latest stored routing review (gauges,
with its 95% interval), per model key and candidate."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from routing.money import usd
from workers.metrics.snapshot import Snapshot

TRIAL_LABELS = ("model_key", "candidate")
VERDICTS = ("agree", "disagree", "candidate_invalid", "unjudged")


def trial_metrics(snap: Snapshot) -> list[Metric]:
    samples = CounterMetricFamily(
        "llm_router_trial_samples", "Shadow-trial samples scored today (UTC), by verdict.",
        labels=[*TRIAL_LABELS, "verdict"],
    )
    spend = CounterMetricFamily(
        "llm_router_trial_spend_usd", "Spend of shadow trials today (UTC), from their own "
        "budgets (never in llm_router_spend_usd).", labels=list(TRIAL_LABELS),
    )
    for row in snap.trial_rows:
        labels = [row.model_key, row.model]
        for verdict in VERDICTS:
            samples.add_metric([*labels, verdict], getattr(row, verdict),
                               created=snap.day_start)
        spend.add_metric(labels, usd(row.micros), created=snap.day_start)
    agreement = GaugeMetricFamily(
        "llm_router_trial_agreement", "Agreement of a trial candidate with production over "
        "the latest routing review's window: the estimate and its 95% Wilson bounds.",
        labels=[*TRIAL_LABELS, "bound"],
    )
    reviewed = GaugeMetricFamily(
        "llm_router_trial_review_samples", "Samples behind the latest routing review's "
        "agreement figure.", labels=list(TRIAL_LABELS),
    )
    for key, entry in (snap.review or {}).get("model_keys", {}).items():
        for trial in entry.get("trials", []):
            labels = [key, trial["candidate"]]
            reviewed.add_metric(labels, trial["samples"])
            for bound, name in (("estimate", "agreement"), ("lower", "agreement_low"),
                                ("upper", "agreement_high")):
                if trial.get(name) is not None:
                    agreement.add_metric([*labels, bound], trial[name])
    return [samples, spend, agreement, reviewed]
