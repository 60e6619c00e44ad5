"""`llm-router plan --calls-per-day KEY=N ...`: worker slots, replicas and a day's cost per
tier for a daily volume, by Little's law (`routing.planning.plan`)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import app
from cli.context import (
    EXIT_CODES_READ_HELP,
    EXIT_INVALID,
    JsonOpt,
    emit_json,
    fail,
    guarded,
    open_store,
    say,
    settings,
)

if TYPE_CHECKING:
    from routing.planning.plan import Measured, Plan
    from routing.spend.ledger import Ledger


class Stat(StrEnum):
    mean = "mean"
    p95 = "p95"


@app.command("plan", short_help="Workers and cost per tier for a volume.",
             epilog=EXIT_CODES_READ_HELP)
def plan_cmd(
    calls_per_day: Annotated[list[str], typer.Option(
        "--calls-per-day", metavar="KEY=N",
        help="Calls a day of a model key (repeat the flag), e.g. lookup=1000000.")],
    latency: Annotated[list[str] | None, typer.Option(
        "--latency", metavar="KEY=SECONDS",
        help="Seconds a call of that key holds a worker slot (wins over the measured "
             "figure; else the tier's default).")] = None,
    tokens: Annotated[list[str] | None, typer.Option(
        "--tokens", metavar="KEY=IN/OUT",
        help="Input/output tokens per call (wins over the measured figure; else the "
             "tier's default).")] = None,
    utilization: Annotated[float, typer.Option(
        help="Target share of busy slots: the headroom for bursts.")] = 0.7,
    latency_stat: Annotated[Stat, typer.Option(
        "--latency-stat", help="Measured latency per call: the mean (Little's law), or "
                               "the p95 (conservative).")] = Stat.mean,
    days: Annotated[int, typer.Option(
        min=1, max=400, help="Measure over the last N UTC days of the ledger.")] = 7,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="Plan with this config file instead of the stored one "
                             "(offline: nothing measured).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """For each tier: the calls a day, the slots busy on average (arrival rate x latency),
    the slots needed at the target utilization, the replicas at the tier's concurrency,
    and what a day costs at the config's prices. Latency and tokens per call come from
    --latency / --tokens, else the ledger (that key on its model, at least 20 calls in
    the window), else the tier's default; each figure says which."""
    from routing.errors import PlanInputError
    from routing.planning import input as plan_input
    from routing.planning.plan import measure, plan

    ledger: Ledger | None = None
    with guarded():
        if file is not None:
            from routing.config.file import read_document
            from routing.config.load import load_config

            config = load_config(read_document(file))
        else:
            from routing.spend.ledger import Ledger

            store = open_store()
            config = store.read()
            ledger = Ledger(store.redis, store.namespace,
                            keep_days=settings().ledger_keep_days)
    try:
        counts = plan_input.calls_per_day(config, calls_per_day)
        given_latency = plan_input.latencies(config, latency or [], counts)
        given_tokens = plan_input.tokens(config, tokens or [], counts)
        target = plan_input.utilization(utilization)
    except PlanInputError as exc:
        fail(str(exc), EXIT_INVALID)
    measured: dict[tuple[str, str], Measured] = {}
    if ledger is not None:
        from routing.days import report_days

        with guarded():
            measured = measure(ledger.spans(report_days(None, days))[0])
    result = plan(config, counts, utilization=target, latency_stat=latency_stat.value,
                  latencies=given_latency, tokens=given_tokens, measured=measured, days=days)
    if as_json:
        emit_json(result.as_dict())
        return
    for line in plan_lines(result, file=file):
        say(line)


def plan_lines(result: Plan, *, file: Path | None) -> list[str]:
    from cli.table import Table
    from routing.money import usd

    doc = result.as_dict()
    total = doc["total"]
    source = (f"config file {file}; nothing measured" if file is not None else
              f"config version {result.config_version}; measured: {result.latency_stat} "
              f"latency per call over the last {result.days} UTC days")
    lines = [
        f"plan: {total['calls_per_day']:,} calls a day at {result.utilization:.0%} "
        f"utilization ({source})",
        "",
    ]
    tiers = Table("tier", "queue", "calls/day", "busy slots", "slots", "concurrency",
                  "replicas", "configured", "$/day")
    for t in result.tiers:
        tiers.add_row(t.tier, t.queue, f"{t.calls_per_day:,}", f"{t.busy_slots:.2f}", t.slots,
                      t.concurrency, t.replicas, t.configured_replicas,
                      f"{usd(t.cost_per_day_micros):,.2f}")
    lines += [str(tiers), ""]
    keys = Table("model key", "model", "tier", "calls/day", "calls/s", "latency s",
                 "from", "in tok", "out tok", "from", "$/day")
    for k in result.keys:
        keys.add_row(k.model_key, k.model, k.tier, f"{k.calls_per_day:,}",
                     f"{k.rate_per_second:.4f}", f"{k.latency_seconds:g}", k.latency_source,
                     f"{k.input_tokens:g}", f"{k.output_tokens:g}", k.tokens_source,
                     f"{usd(k.cost_per_day_micros):,.2f}")
    lines += [str(keys), ""]
    lines.append(
        f"total: {total['slots']} slots, {total['replicas']} replicas, "
        f"${total['cost_per_day_usd']:,.2f} a day (${total['cost_per_30_days_usd']:,.2f} "
        "per 30 days)")
    lines.append("slots = ceil(calls/s x latency / utilization); replicas = ceil(slots / "
                 "concurrency);")
    lines.append("'configured': the tier's replicas in the config; 'from': given, measured "
                 "(ledger) or default")
    return lines
