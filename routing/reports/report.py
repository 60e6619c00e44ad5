"""The cost report: what the routed calls cost, against running everything on one model.

Actual spend is the ledger's: each call priced at call time. The naive comparison prices
the same token counts (summed per aggregate row, each row at the long-context tier of its
mean call, rounded once) at the *current* prices of the config given, on (a) the catalog's
most expensive model by list price (`most_expensive_model`: chosen from the prices, so an
empty day names the same model as a busy one) and (b) the default model of the
`orchestration` key. So after a price change the comparison uses the new prices while the
spend keeps the old ones.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from routing.config.models import RoutingConfig
from routing.days import day_text, report_days
from routing.keys import keyspace
from routing.money import usd
from routing.prices.pricing import Usage, cost_micros, total_cost_micros
from routing.reports.reconciled import load_reconciliations, summary
from routing.spend import latency
from routing.spend.aggregates import AggregateRow, merge
from routing.spend.ledger import Ledger
from routing.timestamps import iso

TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
PRICING_NOTE = (
    "actual spend is priced at call time; the naive comparison prices the same tokens at "
    "the current catalog prices"
)


def _comparison(model: str, naive: int, actual: int) -> dict[str, Any]:
    savings = naive - actual
    return {
        "model": model,
        "cost_micros": naive,
        "cost_usd": usd(naive),
        "savings_micros": savings,
        "savings_usd": usd(savings),
        # share of the naive cost saved, and how many times dearer naive would have been
        "savings_ratio": savings / naive if naive else None,
        "cost_multiple": naive / actual if actual else None,
    }


def naive_costs(config: RoutingConfig, usage: Usage, calls: int = 1) -> dict[str, int]:
    """What `usage` (the tokens of `calls` calls) costs on each catalog model, at the
    config's current prices."""
    return {m: cost_micros(usage, config.price_of(m), calls=max(1, calls))
            for m in sorted(config.models)}


def row_costs(config: RoutingConfig, rows: list[AggregateRow]) -> dict[str, int]:
    """What the calls of `rows` cost on each catalog model at the config's current prices:
    each row at the tier of its mean call (a sum of short calls is no long-context call),
    rounded once."""
    groups = [(r.usage, r.calls) for r in rows]
    return {m: total_cost_micros(groups, config.price_of(m)) for m in sorted(config.models)}


def most_expensive_model(config: RoutingConfig) -> str:
    """The catalog model with the highest list price: input + output USD per MTok (ties:
    the higher output price, then the first name)."""

    def price(model: str) -> tuple[Decimal, Decimal]:
        p = config.price_of(model)
        return p.list_usd, p.output

    return max(sorted(config.models), key=price)


def counterfactuals(
    config: RoutingConfig, rows: list[AggregateRow]
) -> dict[str, tuple[str, int] | None]:
    """basis -> (model, micro-dollars): the tokens of `rows` (`row_costs`) all on the
    catalog model with the highest list price (`most_expensive`) and all on the
    `orchestration` key's model (`orchestration_default`; None without that key)."""
    costs = row_costs(config, rows)
    dearest = most_expensive_model(config)
    orchestration = config.model_keys.get("orchestration")
    return {
        "most_expensive": (dearest, costs[dearest]),
        "orchestration_default": (
            None if orchestration is None
            else (orchestration.model, costs[orchestration.model])
        ),
    }


def _event(rows: list[AggregateRow], count: str, micros: str) -> dict[str, Any]:
    n, m = sum(getattr(r, count) for r in rows), sum(getattr(r, micros) for r in rows)
    return {"count": n, "micros": m, "usd": usd(m)}


def _events(rows: list[AggregateRow]) -> dict[str, Any]:
    deferrals = _event(rows, "deferrals", "deferred_micros")
    deferrals["runs"] = sum(r.deferred_calls for r in rows)  # ran later; "micros" is theirs
    deferrals["needed_micros"] = sum(r.deferrals_needed_micros for r in rows)
    rejections = _event(rows, "rejections", "rejections_needed_micros")
    # Calls through provider batches (in the totals above, at the batch rate): what the
    # same tokens would have cost at direct prices, and the saving.
    batches = _event(rows, "batch_calls", "batch_micros")
    saved = sum(r.batch_saved_micros for r in rows)
    batches.update(direct_micros=batches["micros"] + saved,
                   direct_usd=usd(batches["micros"] + saved), saved_micros=saved,
                   saved_usd=usd(saved))
    return {
        # calls never settled (a worker died): charged at their reserved bound
        "estimated": _event(rows, "estimated_calls", "estimated_micros"),
        "errors": sum(r.errors for r in rows),
        "fallbacks": _event(rows, "fallback_calls", "fallback_micros"),
        "escalations": _event(rows, "escalation_calls", "escalation_micros"),
        "downgrades": _event(rows, "downgrade_calls", "downgrade_micros"),
        "deferrals": deferrals,
        "rejections": {"count": rejections["count"], "needed_micros": rejections["micros"]},
        "batches": batches,
    }


def _row(row: AggregateRow) -> dict[str, Any]:
    out = {k: v for k, v in row.as_dict().items() if k not in ("micros", "latency", "e2e")}
    out["spend_micros"] = row.micros
    out["spend_usd"] = usd(row.micros)
    for name, histogram in (("latency", row.latency), ("e2e", row.e2e)):
        for q, label in ((0.5, "p50"), (0.95, "p95")):
            value = latency.percentile(histogram, q)
            out[f"{name}_{label}_ms"] = None if value is None else round(value, 1)
    return out


def _totals(rows: list[AggregateRow]) -> dict[str, Any]:
    spend = sum(r.micros for r in rows)
    out: dict[str, Any] = {"calls": sum(r.calls for r in rows)}
    out.update({t: sum(getattr(r, t) for r in rows) for t in TOKENS})
    out.update(spend_micros=spend, spend_usd=usd(spend))
    return out


def build_report(
    ledger: Ledger, config: RoutingConfig, *, day: date | str | None = None, days: int = 1
) -> dict[str, Any]:
    """The report of `days` UTC days ending with `day` (JSON-able; integers in micros)."""
    span = report_days(day, days)
    per_day = {d: ledger.day_aggregates(d).rows for d in span}
    rows = merge([r for d in span for r in per_day[d]])
    totals = _totals(rows)
    actual = totals["spend_micros"]
    naive: dict[str, Any] = {
        basis: None if found is None else _comparison(found[0], found[1], actual)
        for basis, found in counterfactuals(config, rows).items()
    }
    trend = []
    for d in span:
        t, ev = _totals(per_day[d]), _events(per_day[d])
        by_key: dict[str, int] = {}
        for r in per_day[d]:
            by_key[r.model_key] = by_key.get(r.model_key, 0) + r.micros
        trend.append({
            "day": d, "calls": t["calls"], "spend_micros": t["spend_micros"],
            "spend_usd": t["spend_usd"], "errors": ev["errors"],
            "fallbacks": ev["fallbacks"]["count"], "escalations": ev["escalations"]["count"],
            "deferrals": ev["deferrals"]["count"],
            "spend_micros_by_model_key": dict(sorted(by_key.items())),
        })
    trial_rows = merge([r for d in span for r in ledger.trial_aggregates(d)])
    trial_spend = sum(r.micros for r in trial_rows)
    return {
        "day": span[-1],
        "days": span,
        "generated_at": iso(datetime.now(UTC).timestamp()),
        "config_version": config.version,
        "rows": [_row(r) for r in rows],
        "totals": totals,
        "naive": naive,
        "events": _events(rows),
        "trend": trend,
        # Shadow trials: paid from their own budgets, never in the totals or the savings.
        "trials": {
            "spend_micros": trial_spend, "spend_usd": usd(trial_spend),
            "rows": [{"model_key": r.model_key, "candidate": r.model, "tier": r.tier,
                      "calls": r.calls, "samples": r.samples, "agree": r.agree,
                      "spend_micros": r.micros, "spend_usd": usd(r.micros)}
                     for r in trial_rows],
        },
        "pricing": PRICING_NOTE,
        # The ledger against each provider's bill, as last reconciled (`cost reconcile`).
        "reconciliations": {p: summary(doc) for p, doc in
                            load_reconciliations(ledger.client, ledger.namespace).items()},
    }


def summary_line(report: dict[str, Any]) -> str:
    """One line for a log: calls, spend, the naive comparison, the events."""
    t, ev = report["totals"], report["events"]
    span = report["day"] if len(report["days"]) == 1 else f"{report['days'][0]}..{report['day']}"
    naive = report["naive"]["most_expensive"]
    saved = naive["savings_ratio"]
    saved_text = f"saved {saved:.1%}" if saved is not None else "nothing to compare"
    return (
        f"cost {span}: {t['calls']} calls, ${t['spend_usd']:.6f} spent; all on "
        f"{naive['model']} ${naive['cost_usd']:.6f} ({saved_text}); "
        f"fallbacks {ev['fallbacks']['count']}, escalations {ev['escalations']['count']}, "
        f"deferrals {ev['deferrals']['count']}, rejections {ev['rejections']['count']}, "
        f"errors {ev['errors']}"
    )


def report_key(namespace: str, day: str) -> str:
    return f"{keyspace(namespace)}:ledger:{day}:report"


def store_daily_report(
    ledger: Ledger, config: RoutingConfig, *, day: date | str | None = None
) -> str:
    """Store one day's report as JSON (kept like the aggregates); return its summary line.

    The daily Beat task calls this (for yesterday, a few minutes after midnight UTC, so
    that the day is complete; today's report is a report so far).
    """
    report = build_report(ledger, config, day=day)
    ledger.client.set(
        report_key(ledger.namespace, report["day"]),
        json.dumps(report, separators=(",", ":")),
        ex=ledger.aggregate_keep_days * 86400,
    )
    return summary_line(report)


def load_daily_report(ledger: Ledger, day: date | str) -> dict[str, Any] | None:
    """A stored daily report, or None."""
    raw = ledger.client.get(report_key(ledger.namespace, day_text(day)))
    if raw is None:
        return None
    data: dict[str, Any] = json.loads(raw)
    return data
