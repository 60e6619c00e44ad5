"""The routing review as text: what `llm-router review` prints, and the demo's "is the
cheaper model good enough?" section."""

from __future__ import annotations

from typing import Any

from cli.table import Table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def _action(rec: dict[str, Any]) -> str:
    return rec["action"] if rec["action"] == "keep" else f"{rec['action']} -> {rec['to']}"


def keys_table(result: dict[str, Any]) -> Table:
    table = Table("model key", "model", "calls", "cost $", "escalations", "fallbacks",
                  "recommendation")
    for key, e in result["model_keys"].items():
        table.add_row(key, e["model"], e["calls"], f"{e['cost_usd']:.4f}",
                      _pct(e["escalation_rate"]), _pct(e["fallback_rate"]),
                      _action(e["recommendation"]))
    return table


def trials_table(result: dict[str, Any]) -> Table:
    table = Table("model key", "candidate", "samples live+replay", "agreement", "95% interval",
                  "tool turns", "text turns",
                  "cand. invalid", "latency x", "cost x", "saving $/month", "trial $")
    for key, e in result["model_keys"].items():
        for t in e["trials"]:
            interval = ("-" if t["agreement_low"] is None
                        else f"{t['agreement_low']:.3f}-{t['agreement_high']:.3f}")
            split = (f"{t['live']['samples']}+{t['replay']['samples']}" if "live" in t
                     else str(t["samples"]))  # (a review stored before replays)
            table.add_row(key, t["candidate"], split, _num(t["agreement"], ".3f"),
                          interval, _turns(t.get("tool_turns")), _turns(t.get("text_turns")),
                          _pct(t["candidate_invalid_rate"]),
                          _num(t["latency_ratio"]), _num(t["cost_ratio"]),
                          _num(t.get("monthly_saving_usd")), f"{t['trial_spend_usd']:.4f}")
    return table


def _turns(turns: dict[str, Any] | None) -> str:
    """`agreement (samples)` of one kind of turn (a review stored before: `-`)."""
    if not turns or not turns["samples"]:
        return "-"
    return f"{turns['agreement']:.3f} ({turns['samples']})"


def review_lines(result: dict[str, Any], *, only_trials: bool = False) -> list[str]:
    """The review's text; `only_trials`: the trial table and the keys with trials only."""
    lines = [f"routing review {result['from']} .. {result['to']} ({result['days']} days, "
             f"UTC), config version {result['config_version']}"]
    if not only_trials:
        lines += [str(keys_table(result)), ""]
    trials = trials_table(result)
    if trials.rows:
        lines += [str(trials)]
        rule = next((t["evidence_rule"] for e in result["model_keys"].values()
                     for t in e["trials"] if "evidence_rule" in t), None)
        if rule:
            lines.append(f"evidence: {rule}")
    if "saving_basis" in result:  # a review stored before it said so has none
        lines.append(result["saving_basis"])
    lines.append("")
    for key, e in result["model_keys"].items():
        rec = e["recommendation"]
        shown = e["trials"] if only_trials else (
            rec["action"] != "keep" or e["trials"] or e["escalation_rate"])
        if shown:
            lines.append(f"{key}: {_action(rec)}: {rec['reason']}")
    if not only_trials and "prices" in result:
        lines.append(prices_line(result["prices"]))
    if not only_trials:
        lines.append(f"summary: {result['summary']}")
    return lines


def prices_line(prices: dict[str, Any]) -> str:
    """The review's price section in one line: drift against the catalog and its effect."""
    cat = prices["catalog"]
    source = f"{cat['package']} {cat['version']}, verified up to {cat['data_date']}"
    spend = (f"the window's spend ${prices['recorded_micros'] / 1e6:.4f} at config prices, "
             f"${prices['at_catalog_micros'] / 1e6:.4f} at catalog prices")
    unknown = (f"; not in the catalog: {', '.join(prices['not_in_catalog'])}"
               if prices["not_in_catalog"] else "")
    if prices["drifted"]:
        return (f"prices: drift from the catalog ({source}) on "
                f"{', '.join(prices['drifted'])}: {spend}; see llm-router prices "
                f"check{unknown}")
    return f"prices: agree with the catalog ({source}): {spend}{unknown}"
