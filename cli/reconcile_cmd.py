"""`llm-router cost reconcile`: the ledger against the providers' own usage and cost reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from cli import cost_app
from cli.context import EXIT_ERROR, EXIT_INVALID, JsonOpt, emit_json, fail, guarded, say
from cli.table import Table

if TYPE_CHECKING:
    from routing.spend.reconcile import Reconciliation

# A reconciliation that found a difference beyond tolerance (DESIGN.md: a check that finds
# a difference has its own code; 4 is the price drift of `prices check`).
EXIT_GAP = 5
EXIT_CODES_RECONCILE_HELP = (
    "Exit codes: 0 every difference within tolerance; 1 a provider report failed (an "
    "error answer, unreachable, or paging forever) or Redis is unreachable; 2 refused "
    "input (no admin key set, a bad --day); 5 a difference beyond tolerance (listed with "
    "its likely cause). On 1 and 2 nothing is stored."
)
ProviderName = Literal["anthropic", "openai"]


def _print(result: Reconciliation) -> None:
    from routing.money import usd

    data = result.as_dict()
    span = result.days[0] if len(result.days) == 1 else f"{result.days[0]}..{result.days[-1]}"
    filters = ", ".join(f"{k} {v}" for k, v in result.filters.items()) or "the whole organization"
    say(f"{result.provider} {span} ({filters}): bill ${usd(data['provider_micros']):.6f}, "
        f"ledger ${usd(data['ledger_micros']):.6f}")
    if result.provisional:
        say(f"provisional: {', '.join(result.provisional)} not final yet (the provider's "
            "reporting delay has not passed); figures so far")
    table = Table("day", "model", "provider tokens", "ledger tokens", "at config $",
                  "billed $", "ledger $", "")
    for line in result.lines:
        table.add_row(
            line.day, line.model, sum(line.provider_usage.as_dict().values()),
            sum(line.ledger_usage.as_dict().values()),
            "-" if line.priced_micros is None else f"{usd(line.priced_micros):.6f}",
            "-" if line.provider_micros is None else f"{usd(line.provider_micros):.6f}",
            f"{usd(line.ledger_micros):.6f}", "<- differs" if line.findings else "",
        )
    say(table)
    for line, finding in result.gaps:
        amount = (f"{finding.difference:+d} tokens" if finding.check == "tokens"
                  else f"${usd(finding.difference):+.6f}")
        say(f"  {line.day} {line.model} {finding.check}: {amount}: {finding.cause}")
    tolerance = result.tolerance
    say(f"within tolerance ({float(tolerance.relative):.1%}, or ${usd(tolerance.micros):.2f})"
        if result.ok else f"{len(result.gaps)} difference(s) beyond tolerance "
        f"({float(tolerance.relative):.1%}, or ${usd(tolerance.micros):.2f})")


@cost_app.command("reconcile", short_help="The ledger against the providers' bills.",
                  epilog=EXIT_CODES_RECONCILE_HELP)
def reconcile_cmd(
    day: Annotated[str | None, typer.Option(
        help="The (last) UTC day, YYYY-MM-DD, or 'today' (provisional: reported so far); "
             "default the newest day past the providers' reporting delay.")] = None,
    days: Annotated[int, typer.Option(min=1, max=31,
                                      help="Number of days ending with --day.")] = 1,
    provider: Annotated[ProviderName | None, typer.Option(
        help="One provider; default every one whose admin key is set.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare, per UTC day and model, the providers' own usage and cost reports (read with
    ANTHROPIC_ADMIN_KEY / OPENAI_ADMIN_KEY) with the ledger: provider tokens against ledger
    tokens, provider tokens at the config's prices against the bill, ledger cost against
    the bill. Each difference beyond tolerance is listed with its likely cause."""
    from datetime import UTC, date, datetime

    from routing.days import day_text
    from routing.spend.ledger import Ledger
    from routing.spend.reconcile import span
    from workers.providers.usage_reports.errors import MissingAdminKeyError, ReportError
    from workers.providers.usage_reports.fetch import ADMIN_KEY_VARIABLES, PROVIDERS
    from workers.providers.usage_reports.reconciling import (
        newest_final_day,
        reconcile_provider,
    )
    from workers.settings import get_settings

    now = datetime.now(UTC)
    with guarded():
        settings = get_settings()
    if day == "today":
        last = now.date()
    elif day is not None:
        try:
            last = date.fromisoformat(day_text(day))
        except ValueError:
            fail(f"--day must be YYYY-MM-DD or 'today', got {day!r}", EXIT_INVALID)
    else:
        last = newest_final_day(settings, now)
    if last > now.date():
        fail(f"--day {last} is in the future; give today or an earlier day", EXIT_INVALID)
    wanted = [provider] if provider else [
        p for p in PROVIDERS if getattr(settings, f"{p}_admin_key") is not None]
    if not wanted:
        fail("no admin key is set: set ANTHROPIC_ADMIN_KEY or OPENAI_ADMIN_KEY (an admin "
             "key of the organization, read from the environment only)", EXIT_INVALID,
             variables=list(ADMIN_KEY_VARIABLES.values()))
    for name in wanted:  # every key checked before anything is read
        if getattr(settings, f"{name}_admin_key") is None:
            error = MissingAdminKeyError(name, ADMIN_KEY_VARIABLES[name])
            fail(str(error), EXIT_INVALID, variables=[error.variable])
    results: list[Reconciliation] = []
    with guarded():
        from cli.context import open_store

        store = open_store()
        config = store.read()
        ledger = Ledger(store.redis, store.namespace, keep_days=settings.ledger_keep_days)
        try:
            reports = {name: reconcile_provider(settings, ledger, config, name,
                                                span(last, days), now=now, store=False)
                       for name in wanted}
        except ReportError as exc:
            fail(str(exc), EXIT_ERROR)
        # Stored only once every provider's report was read: a failure stores nothing.
        from routing.reports.reconciled import store_reconciliation

        for result in reports.values():
            store_reconciliation(store.redis, store.namespace, result.as_dict(),
                                 keep_seconds=ledger.aggregate_keep_days * 86400)
            results.append(result)
    ok = all(r.ok for r in results)
    code = 0 if ok else EXIT_GAP
    if as_json:
        document: dict[str, Any] = {"ok": ok, "exit_code": code,
                                    "reconciliations": [r.as_dict() for r in results]}
        emit_json(document)
    else:
        for result in results:
            _print(result)
    if code:
        raise typer.Exit(code)
