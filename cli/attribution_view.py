"""Printing who spent it: `cost report --by agent|run|tag` and `--run RUN_ID`, and the
run commands' view (`runs show`, `runs stop`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cli.context import (
    EXIT_ERROR,
    EXIT_INVALID,
    emit_json,
    fail,
    guarded,
    open_store,
    say,
    settings,
)
from cli.table import Table
from routing.reports.attribution import By, rows_by, run_rows


def by_report(report: dict[str, Any], by: By, as_json: bool) -> None:
    if as_json:
        emit_json({"by": by, **report})
        return
    headers, rows = rows_by(report, by)
    days = report["days"]
    span = days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]}"
    say(f"spend by {by}, {span} (attributed calls: ${report['attributed_usd']:.6f})")
    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    say(table)
    if not rows:
        say(f"no attributed call in {span}: send agent/run_id/tags with the tasks "
            "(docs/agents.md)")


def load_run(run_id: str) -> dict[str, Any]:
    from routing.errors import AttributionError
    from routing.spend.runs import RunBook

    with guarded():
        store = open_store()
        book = RunBook(store.redis, store.namespace,
                       run_keep_days=settings().run_keep_days)
        try:
            found = book.show(run_id)
        except AttributionError as exc:
            fail(str(exc), EXIT_INVALID)
    if found is None:
        fail(f"no run '{run_id}' (no call of it yet, or it expired: LLM_ROUTER_RUN_DAYS)",
             EXIT_ERROR)
    return found.as_dict()


def print_run(run: dict[str, Any]) -> None:
    cap = ", ".join(p for p in (
        None if run["cap_usd"] is None else f"${run['cap_usd']:.6f}",
        None if run["cap_calls"] is None else f"{run['cap_calls']} calls") if p) or "none"
    since = "-" if run["first_ts"] is None else datetime.fromtimestamp(
        run["first_ts"], UTC).isoformat(timespec="seconds")
    say(f"run {run['run_id']}: agent {run['agent'] or '-'}, {run['state']}"
        f"{' (' + run['why'] + ')' if run['why'] else ''}, since {since}")
    say(f"  {run['calls']} calls, ${run['cost_usd']:.6f} spent, "
        f"${run['reserved_micros'] / 1e6:.6f} reserved in flight, {run['refused']} refused; "
        f"cap {cap}")
    if run["trial_calls"]:
        say(f"  shadow trials: {run['trial_calls']} calls, "
            f"${run['trial_micros'] / 1e6:.6f} (trial spend, not the run's)")
    agents = Table("agent", "calls", "cost")
    for agent, row in sorted(run["agents"].items(), key=lambda kv: -kv[1]["micros"]):
        agents.add_row(agent, str(row["calls"]), f"${row['micros'] / 1e6:.6f}")
    say(agents)
    headers, rows = run_rows(run)
    calls = Table(*headers)
    for row in rows:
        calls.add_row(*row)
    say(calls)


def run_report(run_id: str, as_json: bool) -> None:
    run = load_run(run_id)
    if as_json:
        emit_json(run)
    else:
        print_run(run)
