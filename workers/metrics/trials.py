"""The shadow trials' metrics: today's samples by verdict and trial spend (counters, from
the trial day aggregates), and each candidate's agreement over the last 30 UTC days
(gauges, with its 95% Wilson interval, computed at each scrape from the trial day
aggregates: a trial shows on the dashboard from its first scored sample), per model key
and candidate."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from routing.evidence.per_key import wilson
from routing.money import usd
from workers.metrics.snapshot import Snapshot

TRIAL_LABELS = ("model_key", "candidate")
VERDICTS = ("agree", "disagree", "candidate_invalid", "unjudged")
# The agreement gauges' window, in UTC days (the review's default window).
TRIAL_WINDOW_DAYS = 30


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
        f"the last {TRIAL_WINDOW_DAYS} UTC days: the estimate and its 95% Wilson bounds.",
        labels=[*TRIAL_LABELS, "bound"],
    )
    reviewed = GaugeMetricFamily(
        "llm_router_trial_review_samples", "Samples behind llm_router_trial_agreement (the "
        f"last {TRIAL_WINDOW_DAYS} UTC days).", labels=list(TRIAL_LABELS),
    )
    for row in snap.trial_window:
        labels = [row.model_key, row.model]
        reviewed.add_metric(labels, row.samples)
        if row.samples:
            low, high = wilson(row.agree, row.samples)
            for bound, value in (("estimate", row.agree / row.samples), ("lower", low),
                                 ("upper", high)):
                agreement.add_metric([*labels, bound], round(value, 4))
    return [samples, spend, agreement, reviewed]
