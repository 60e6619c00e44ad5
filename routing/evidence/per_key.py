"""The evidence per model key over a window of days: how each of its models performed in
production, and how each trial candidate compared on the same work.

Pure functions over the ledger's day aggregates (`routing.spend.aggregates`): no I/O. Rates are
shares of calls; latencies are the histograms' p50/p95 in milliseconds; agreement comes
with its 95% Wilson score interval (`wilson`), which stays honest on few samples.

Every monthly figure has one definition (`SAVING_BASIS`, printed with the review): the
window's tokens of the key's own model (`model_usage`: escalations, fallbacks and rule
targets would not move with a switch) priced both ways, scaled to 30 days by the days
the key was observed (`observed_days`: from its first day with calls in the window to
the window's last day). So a one-day window and a 30-day window whose only data is that
day say the same, and a key added last week is not diluted by weeks it did not exist.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from routing.config.models import RoutingConfig
from routing.money import usd
from routing.prices.pricing import Usage, cost_micros
from routing.spend import latency
from routing.spend.aggregates import AggregateRow, TrialRow, merge

Z95 = 1.959963984540054
MONTH_DAYS = 30
SAVING_BASIS = (
    "saving $/month = (the window's calls of the key's own model at its price - the same "
    f"tokens at the other model's price) x {MONTH_DAYS} / days observed (from the key's "
    "first day with calls in the window to the window's last day), at the config's prices"
)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion `successes / n` (0, 1 when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _percentiles(histogram: list[int]) -> dict[str, float | None]:
    return {q: (None if v is None else round(v, 1)) for q, v in
            (("p50", latency.percentile(histogram, 0.5)),
             ("p95", latency.percentile(histogram, 0.95)))}


def model_performance(row: AggregateRow) -> dict[str, Any]:
    """One model's figures on one key (a merged row of the window)."""
    return {
        "model": row.model, "tier": row.tier, "calls": row.calls,
        "successes": row.successes, "invalid": row.invalid, "errors": row.errors,
        "errors_by_class": dict(sorted(row.errors_by_class.items())),
        "escalations": row.escalations_out, "fallbacks": row.fallbacks_out,
        "escalation_rate": _ratio(row.escalations_out, row.calls),
        "fallback_rate": _ratio(row.fallbacks_out, row.calls),
        "tasks": row.tasks,
        "latency_ms": _percentiles(row.latency),
        "end_to_end_ms": _percentiles(row.e2e),
        **row.usage.as_dict(),
        "cost_micros": row.micros, "cost_usd": usd(row.micros),
        "cost_per_success_micros": round(row.micros / row.successes) if row.successes else None,
    }


EVIDENCE_RULE = ("live and replay samples are summed: the Wilson interval and the "
                 "switch rule apply to their sum")


def _scores(row: TrialRow, prefix: str) -> dict[str, Any]:
    """One kind of evidence of a trial row: live (`prefix` "") or replayed ("replay_")."""
    def get(name: str) -> int:
        return int(getattr(row, prefix + name))

    samples, agree = get("samples"), get("agree")
    return {"samples": samples, "agree": agree, "disagree": get("disagree"),
            "candidate_invalid": get("candidate_invalid"),
            "candidate_errors": get("candidate_errors"), "unjudged": get("unjudged"),
            "agreement": _ratio(agree, samples)}


def trial_performance(row: TrialRow) -> dict[str, Any]:
    """One candidate's figures on one key's trial (a merged trial row of the window):
    live shadow samples and replayed recorded samples side by side, and their sum, on
    which the agreement interval is computed (`EVIDENCE_RULE`)."""
    live, replay = _scores(row, ""), _scores(row, "replay_")
    total = {k: live[k] + replay[k] for k in live if k != "agreement"}
    samples, agree = total["samples"], total["agree"]
    low, high = wilson(agree, samples)
    prod_latency = row.prod_latency_ms + row.replay_prod_latency_ms
    cand_latency = row.cand_latency_ms + row.replay_cand_latency_ms
    return {
        "candidate": row.model, "tier": row.tier,
        **total, "skipped_for_budget": row.skipped_budget,
        "agreement": _ratio(agree, samples),
        "agreement_low": round(low, 4) if samples else None,
        "agreement_high": round(high, 4) if samples else None,
        "live": live, "replay": replay, "evidence_rule": EVIDENCE_RULE,
        "candidate_invalid_rate": _ratio(total["candidate_invalid"], samples),
        "latency_ratio": _ratio(row.cand_latency_ms, row.prod_latency_ms)
        if row.prod_latency_ms else _ratio(cand_latency, prod_latency),
        "cost_ratio": _ratio(row.cand_micros + row.replay_cand_micros,
                             row.prod_micros + row.replay_prod_micros),
        "latency_ms": _percentiles(row.latency),
        "trial_spend_micros": row.micros, "trial_spend_usd": usd(row.micros),
        "judge_calls": row.judge_calls,
        # agreement on agent turns (the tool and its arguments) apart from text turns
        "tool_turns": _turns(row.tool_agree, row.tool_samples),
        "text_turns": _turns(row.agree - row.tool_agree, row.samples - row.tool_samples),
    }


def _turns(agree: int, samples: int) -> dict[str, Any]:
    low, high = wilson(agree, samples)
    return {"samples": samples, "agree": agree, "agreement": _ratio(agree, samples),
            "agreement_low": round(low, 4) if samples else None,
            "agreement_high": round(high, 4) if samples else None}


def observed_days(per_day: list[tuple[str, list[AggregateRow]]]) -> dict[str, int]:
    """Per model key with calls in the window (`per_day`: its days, oldest first, with
    their production rows): the days from its first day with calls to the window's end."""
    out: dict[str, int] = {}
    for i, (_, rows) in enumerate(per_day):
        for row in rows:
            out.setdefault(row.model_key, len(per_day) - i)
    return out


def key_evidence(
    config: RoutingConfig, days: int, prod: list[AggregateRow], trials: list[TrialRow],
    observed: dict[str, int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per model key of the config: its model, volume, cost, rates, models and trials.
    `observed`: per key, the days its monthly figures are scaled from (default `days`)."""
    by_key: dict[str, list[AggregateRow]] = defaultdict(list)
    for row in merge(prod):
        by_key[row.model_key].append(row)
    trials_by_key: dict[str, list[TrialRow]] = defaultdict(list)
    for trial_row in merge(trials):
        trials_by_key[trial_row.model_key].append(trial_row)
    out: dict[str, dict[str, Any]] = {}
    for key, spec in sorted(config.model_keys.items()):
        rows = by_key.get(key, [])
        usage = Usage(*(sum(getattr(r, t) for r in rows) for t in
                        ("input_tokens", "output_tokens", "cache_read_tokens",
                         "cache_write_tokens")))
        on_model = [r for r in rows if r.model == spec.model]
        # the tokens a switch would move: the key's own model's (escalations, fallbacks
        # and rule targets stay where they are)
        model_usage = Usage(*(sum(getattr(r, t) for r in on_model) for t in
                              ("input_tokens", "output_tokens", "cache_read_tokens",
                               "cache_write_tokens")))
        calls = sum(r.calls for r in on_model)
        escalations = sum(r.escalations_out for r in on_model)
        fallbacks = sum(r.fallbacks_out for r in on_model)
        seen = (observed or {}).get(key, days)
        out[key] = {
            "model": spec.model,
            "days": days,
            "days_observed": seen,
            "calls": sum(r.calls for r in rows),
            "tasks": sum(r.tasks for r in rows),
            "cost_micros": sum(r.micros for r in rows),
            "cost_usd": usd(sum(r.micros for r in rows)),
            "usage": usage.as_dict(),
            "model_usage": model_usage.as_dict(),
            "model_calls": calls,
            "escalation_rate": _ratio(escalations, calls),
            "fallback_rate": _ratio(fallbacks, calls),
            "models": [model_performance(r) for r in rows],
            "trials": [{**trial_performance(r),
                        **trial_saving(config, spec.model, r.model, model_usage, seen,
                                       calls)}
                       for r in trials_by_key.get(key, [])],
        }
    return out


def trial_saving(config: RoutingConfig, model: str, candidate: str, usage: Usage,
                 days: int, calls: int = 1) -> dict[str, Any]:
    """What moving the key's own calls (`calls` calls, their tokens `usage`, over `days`
    observed) from `model` to `candidate` saves per month (`SAVING_BASIS`; negative: it
    costs more; None: the candidate left the catalog)."""
    if candidate not in config.models or model not in config.models:
        return {"monthly_saving_micros": None, "monthly_saving_usd": None}
    saving = (monthly_micros(config, usage, model, days, calls)
              - monthly_micros(config, usage, candidate, days, calls))
    return {"monthly_saving_micros": saving, "monthly_saving_usd": round(usd(saving), 2)}


def monthly_micros(config: RoutingConfig, usage: Usage, model: str, days: int,
                   calls: int = 1) -> int:
    """What `usage` (the tokens of `calls` calls over `days` observed: the tier of their
    mean call) costs per month on `model` at config prices (`SAVING_BASIS`)."""
    price = config.price_of(model)
    return round(cost_micros(usage, price, calls=max(1, calls)) * MONTH_DAYS / max(1, days))
