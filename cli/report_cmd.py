"""`llm-router cost report`: spend per model key x model x tier, against naive routing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli import cost_app
from cli.context import (
    EXIT_INVALID,
    JsonOpt,
    emit_json,
    fail,
    guarded,
    html_target,
    open_store,
    say,
    settings,
)
from cli.table import Table


def _print(report: dict[str, Any]) -> None:
    from routing.reports import text
    say(text.heading(report))
    table = Table(*text.TABLE_HEADERS)
    for row in text.table_rows(report):
        table.add_row(*row)
    say(table)
    say("the same calls on one model for everything:")
    for basis, comparison in report["naive"].items():
        say("  " + text.naive_line(basis, comparison))
    say(text.events_line(report))
    batches = text.batches_line(report)
    if batches is not None:
        say(batches)
    if len(report["days"]) > 1:
        trend = Table(*text.TREND_HEADERS)
        for row in text.trend_rows(report):
            trend.add_row(*row)
        say(trend)
    trials = text.trials_line(report)
    if trials is not None:
        say(trials)
    from routing.reports.reconciled import summary_line

    for reconciled in report.get("reconciliations", {}).values():
        say(summary_line(reconciled))
    say(f"note: {report['pricing']}")


@cost_app.command("report", short_help="Spend per model key, against naive routing.")
def report_cmd(
    day: Annotated[str | None, typer.Option(
        help="The (last) UTC day, YYYY-MM-DD; default today.")] = None,
    days: Annotated[int, typer.Option(min=1, max=400,
                                      help="Number of days ending with --day.")] = 1,
    as_json: JsonOpt = False,
    html: Annotated[Path | None, typer.Option(
        "--html", metavar="FILE", help="Also write the report as one self-contained HTML "
        "page with charts (works offline) to FILE.")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", metavar="agent|run|tag", help="Who spent it: spend per agent, per run "
        "(the dearest) or per tag of the attributed calls.")] = None,
    run: Annotated[str | None, typer.Option(
        "--run", metavar="RUN_ID", help="One run's calls in order (model key, model, hop, "
        "cost) and its spend per agent.")] = None,
) -> None:
    """Calls, tokens and spend per model key x model x tier; what the same calls would have
    cost on one model for everything, and the savings; fallbacks, escalations, deferrals.
    With --by agent|run|tag (or --run RUN_ID): who spent it, from the attributed calls."""
    from routing.days import day_text
    from routing.reports.report import build_report
    from routing.spend.ledger import Ledger

    if day is not None:
        try:
            day = day_text(day)
        except ValueError:
            fail(f"--day must be YYYY-MM-DD, got {day!r}", EXIT_INVALID)
    if by is not None and by not in ("agent", "run", "tag"):
        fail(f"--by must be agent, run or tag, got {by!r}", EXIT_INVALID)
    if run is not None:
        from cli.attribution_view import run_report

        run_report(run, as_json)
        return
    target = None if html is None else html_target(html)
    with guarded():
        store = open_store()
        config = store.read()
        ledger = Ledger(store.redis, store.namespace, keep_days=settings().ledger_keep_days)
        report = build_report(ledger, config, day=day, days=days)
        from routing.reports.attribution import build_attribution
        from routing.spend.runs import RunBook

        report["attribution"] = build_attribution(
            RunBook(store.redis, store.namespace), list(report["days"]))
        if target is not None:
            from routing.reports.html import write_page
            from routing.spend.budget import BudgetBook

            budgets = [s.as_dict() for s in BudgetBook(store.redis, store.namespace)
                       .status(config)]
            write_page(target, report, budgets)
    if by is not None:
        from cli.attribution_view import by_report

        by_report(report["attribution"], by, as_json)  # type: ignore[arg-type]
    elif as_json:
        emit_json(report)
    else:
        _print(report)
    if target is not None:
        typer.echo(f"wrote {target}", err=True)
