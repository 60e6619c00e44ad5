"""The cost report as text: the table, the comparison and event lines, the daily trend.

`llm-router cost report` prints these and the HTML page (`routing.reports.html`) shows the
same cells, so the two never disagree. Plain strings only: no terminal or HTML markup.
"""

from __future__ import annotations

from typing import Any

TABLE_HEADERS = ("model key", "model", "tier", "calls", "errors", "input", "output",
                 "cache read", "cache write", "spend $")
TREND_HEADERS = ("day", "calls", "spend $", "fallbacks", "escalations", "deferrals")
NAIVE_LABELS = {"most_expensive": "most expensive model",
                "orchestration_default": "orchestration default"}


def span_text(report: dict[str, Any]) -> str:
    days = report["days"]
    return days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]} ({len(days)} days)"


def heading(report: dict[str, Any]) -> str:
    return (f"cost report {span_text(report)} (UTC), catalog of config version "
            f"{report['config_version']}")


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per model key x model x tier, then the total row."""
    out = [
        [r["model_key"], r["model"], r["tier"], str(r["calls"]), str(r["errors"]),
         str(r["input_tokens"]), str(r["output_tokens"]), str(r["cache_read_tokens"]),
         str(r["cache_write_tokens"]), f"{r['spend_usd']:.6f}"]
        for r in report["rows"]
    ]
    t = report["totals"]
    out.append(["total", "", "", str(t["calls"]), "", str(t["input_tokens"]),
                str(t["output_tokens"]), str(t["cache_read_tokens"]),
                str(t["cache_write_tokens"]), f"{t['spend_usd']:.6f}"])
    return out


def naive_line(basis: str, c: dict[str, Any] | None) -> str:
    label = NAIVE_LABELS.get(basis, basis)
    if c is None:
        return f"{label}: no such model key"
    if not c["cost_micros"] and c["savings_ratio"] is None:
        return f"{label} ({c['model']}): no calls in this period, nothing to compare"
    ratio = f"{c['savings_ratio']:.1%} saved" if c["savings_ratio"] is not None else "-"
    multiple = f", {c['cost_multiple']:.2f}x actual" if c["cost_multiple"] is not None else ""
    return (f"{label} ({c['model']}): ${c['cost_usd']:.6f}; savings "
            f"${c['savings_usd']:.6f} ({ratio}{multiple})")


def events_line(report: dict[str, Any]) -> str:
    ev = report["events"]
    return (
        f"fallbacks {ev['fallbacks']['count']} (${ev['fallbacks']['usd']:.6f}), escalations "
        f"{ev['escalations']['count']} (${ev['escalations']['usd']:.6f}), downgrades "
        f"{ev['downgrades']['count']} (${ev['downgrades']['usd']:.6f}), deferrals "
        f"{ev['deferrals']['count']} (ran later: {ev['deferrals']['runs']}, "
        f"${ev['deferrals']['usd']:.6f}), rejections {ev['rejections']['count']}, "
        f"errors {ev['errors']}, never settled (charged at their bound) "
        f"{ev['estimated']['count']} (${ev['estimated']['usd']:.6f})"
    )


def batches_line(report: dict[str, Any]) -> str | None:
    """Spend through provider batches and the saving against direct calls (None: none)."""
    b = report["events"]["batches"]
    if not b["count"]:
        return None
    return (f"provider batches: {b['count']} calls, ${b['usd']:.6f} at the batch rate "
            f"(${b['direct_usd']:.6f} at direct prices): saved ${b['saved_usd']:.6f}")


def trials_line(report: dict[str, Any]) -> str | None:
    """Spend of the shadow trials, apart from production (None: there were none)."""
    trials = report["trials"]
    if not trials["rows"]:
        return None
    return (f"shadow trials (own budgets; not in the totals or savings above): "
            f"${trials['spend_usd']:.6f}, " + ", ".join(
                f"{t['model_key']} on {t['candidate']} {t['calls']} calls"
                for t in trials["rows"]))


def trend_rows(report: dict[str, Any]) -> list[list[str]]:
    return [[d["day"], str(d["calls"]), f"{d['spend_usd']:.6f}", str(d["fallbacks"]),
             str(d["escalations"]), str(d["deferrals"])] for d in report["trend"]]
