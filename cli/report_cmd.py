"""`llm-router cost report`: spend per model key x model x tier, against naive routing."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import cost_app
from cli.context import EXIT_INVALID, JsonOpt, emit_json, fail, guarded, open_store, say
from cli.table import Table


def _naive_line(label: str, c: dict[str, Any] | None, calls: int) -> str:
    if c is None:
        return f"  {label}: no such model key"
    if not calls:
        return f"  {label} ({c['model']}): no calls in this period, nothing to compare"
    ratio = f"{c['savings_ratio']:.1%} saved" if c["savings_ratio"] is not None else "-"
    multiple = f", {c['cost_multiple']:.2f}x actual" if c["cost_multiple"] is not None else ""
    return (f"  {label} ({c['model']}): ${c['cost_usd']:.6f}; savings "
            f"${c['savings_usd']:.6f} ({ratio}{multiple})")


def _print(report: dict[str, Any]) -> None:

    days = report["days"]
    span = days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]} ({len(days)} days)"
    say(f"cost report {span} (UTC), catalog of config version "
                  f"{report['config_version']}")
    table = Table("model key", "model", "tier", "calls", "errors", "input", "output",
                  "cache read", "cache write", "spend $")
    for r in report["rows"]:
        table.add_row(r["model_key"], r["model"], r["tier"], str(r["calls"]), str(r["errors"]),
                      str(r["input_tokens"]), str(r["output_tokens"]),
                      str(r["cache_read_tokens"]), str(r["cache_write_tokens"]),
                      f"{r['spend_usd']:.6f}")
    t = report["totals"]
    table.add_row("total", "", "", str(t["calls"]), "", str(t["input_tokens"]),
                  str(t["output_tokens"]), str(t["cache_read_tokens"]),
                  str(t["cache_write_tokens"]), f"{t['spend_usd']:.6f}")
    say(table)
    say("the same calls on one model for everything:")
    naive, calls = report["naive"], t["calls"]
    say(_naive_line("most expensive model", naive["most_expensive"], calls))
    say(_naive_line("orchestration default", naive["orchestration_default"], calls))
    ev = report["events"]
    say(
        f"fallbacks {ev['fallbacks']['count']} (${ev['fallbacks']['usd']:.6f}), escalations "
        f"{ev['escalations']['count']} (${ev['escalations']['usd']:.6f}), downgrades "
        f"{ev['downgrades']['count']} (${ev['downgrades']['usd']:.6f}), deferrals "
        f"{ev['deferrals']['count']} (ran later: {ev['deferrals']['runs']}, "
        f"${ev['deferrals']['usd']:.6f}), rejections {ev['rejections']['count']}, "
        f"errors {ev['errors']}"
    )
    if len(days) > 1:
        trend = Table("day", "calls", "spend $", "fallbacks", "escalations", "deferrals")
        for d in report["trend"]:
            trend.add_row(d["day"], str(d["calls"]), f"{d['spend_usd']:.6f}",
                          str(d["fallbacks"]), str(d["escalations"]), str(d["deferrals"]))
        say(trend)
    say(f"note: {report['pricing']}")


@cost_app.command("report", short_help="Spend per model key, against naive routing.")
def report_cmd(
    day: Annotated[str | None, typer.Option(
        help="The (last) UTC day, YYYY-MM-DD; default today.")] = None,
    days: Annotated[int, typer.Option(min=1, max=400,
                                      help="Number of days ending with --day.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Calls, tokens and spend per model key x model x tier; what the same calls would have
    cost on one model for everything, and the savings; fallbacks, escalations, deferrals."""
    from routing.ledger import Ledger, day_text
    from routing.report import build_report
    from workers.settings import get_settings

    if day is not None:
        try:
            day = day_text(day)
        except ValueError:
            fail(f"--day must be YYYY-MM-DD, got {day!r}", EXIT_INVALID)
    with guarded():
        store = open_store()
        config = store.read()
        ledger = Ledger(store.redis, store.namespace, keep_days=get_settings().ledger_keep_days)
        report = build_report(ledger, config, day=day, days=days)
    if as_json:
        emit_json(report)
    else:
        _print(report)
