"""The demo's report, from the ledger's per-call records of this run's tasks.

Per model key: calls, the model(s) that served them, queue, tokens, cost; the total
against running every call on the Opus tier's model and on the Sonnet tier's model (the
same token counts priced at the config's prices: no hard-coded ratio); budget status.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.demo import agent as demo_agent
from cli.demo import batches as demo_batches
from cli.demo import config as demo_config
from cli.demo import structured as demo_structured
from cli.demo.runner import Played, run_days
from cli.review_view import review_lines
from routing.config.models import RoutingConfig
from routing.money import usd
from routing.prices.pricing import Usage
from routing.reports.report import TOKENS, naive_costs
from routing.spend.budget import BudgetBook
from workers.execution.runtime import Runtime

CALL_OUTCOMES = ("ok", "error", "timeout")


def tier_model(config: RoutingConfig, tier: str) -> str | None:
    """The model that stands for `tier`: the one its model keys route to by default
    (the most used), else the tier's first catalog model."""
    routed = [s.model for s in config.model_keys.values() if config.models[s.model].tier == tier]
    if routed:
        return max(sorted(set(routed)), key=routed.count)
    in_tier = [m for m, spec in config.models.items() if spec.tier == tier]
    return in_tier[0] if in_tier else None


def _money(micros: int) -> dict[str, Any]:
    return {"cost_micros": micros, "cost_usd": usd(micros)}


def _row(model_key: str, model: str, tier: str, config: RoutingConfig) -> dict[str, Any]:
    queue = config.tiers[tier].queue if tier in config.tiers else None
    return {"model_key": model_key, "model": model, "tier": tier, "queue": queue, "calls": 0,
            "errors": 0, **dict.fromkeys(TOKENS, 0), "cost_micros": 0,
            "config_versions": [], "rules": {}}


def ledger_rows(rt: Runtime, config: RoutingConfig, played: Played,
                days: list[str]) -> list[dict[str, Any]]:
    """Provider calls of this run's tasks per model key x model x tier, from the ledger."""
    ids = set(played.tracked)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for day in days:
        for rec in rt.ledger.calls(day):
            if rec.get("task_id") not in ids or rec.get("outcome") not in CALL_OUTCOMES:
                continue
            key = (rec["model_key"], rec["model"], rec["tier"])
            row = rows.get(key) or rows.setdefault(key, _row(*key, config))
            row["calls"] += 1
            row["errors"] += rec["outcome"] != "ok"
            for t in TOKENS:
                row[t] += int(rec.get(t, 0))
            row["cost_micros"] += int(rec["cost_micros"])
            if rec.get("config_version") not in row["config_versions"]:
                row["config_versions"].append(rec.get("config_version"))
    for result in played.results.values():  # which rule routed each task's final call
        if isinstance(result, dict) and "rule" in result:
            key = (result["model_key"], result["model"], result["tier"])
            if key in rows:
                rules = rows[key]["rules"]
                rules[result["rule"]] = rules.get(result["rule"], 0) + 1
    out = [rows[k] for k in sorted(rows)]
    for row in out:
        row["config_versions"].sort()
        row["cost_usd"] = usd(row["cost_micros"])
    return out


def task_calls(rt: Runtime, played: Played, days: list[str]) -> dict[str, int]:
    """Provider calls per task of this run (tasks without a call are absent)."""
    calls: dict[str, int] = defaultdict(int)
    for day in days:
        for rec in rt.ledger.calls(day):
            tid = rec.get("task_id")
            if tid in played.tracked and rec.get("outcome") in CALL_OUTCOMES:
                calls[tid] += 1
    return dict(calls)


def tasks_and_calls(kinds: dict[str, int], per_task: dict[str, int]) -> dict[str, int]:
    """Why the task count and the call count differ: every cron run is a task that calls no
    model (it hands its work on to a typed task, a task of its own, or skips an empty
    inbox); a task calls more than once when it retries, falls back or escalates."""
    tasks = sum(kinds.values())
    calling = len(per_task)
    calls = sum(per_task.values())
    crons = kinds.get("cron", 0)
    return {
        "tasks": tasks,
        "sent": tasks - kinds.get("cron work", 0),
        "cron_runs": crons,
        "handed_on_by_crons": kinds.get("cron work", 0),
        "calls": calls,
        "tasks_with_calls": calling,
        "extra_calls": calls - calling,  # retries, fallbacks, escalations
        "tasks_without_calls": tasks - calling,
        "cron_runs_without_calls": crons,
        "other_tasks_without_calls": tasks - calling - crons,  # failed or parked before one
    }


def run_records(rt: Runtime, played: Played, days: list[str]) -> list[dict[str, Any]]:
    """The ledger's records of this run's provider calls."""
    return [rec for day in days for rec in rt.ledger.calls(day)
            if rec.get("task_id") in played.tracked and rec.get("outcome") in CALL_OUTCOMES]


def _sum(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {n: sum(r[n] for r in rows) for n in ("calls", "errors", *TOKENS)}
    out.update(_money(sum(r["cost_micros"] for r in rows)))
    return out


def per_model_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["model_key"]].append(row)
    out = []
    for key, group in sorted(grouped.items()):
        busiest = sorted(group, key=lambda r: (-r["calls"], r["model"]))  # most calls first
        out.append({"model_key": key, **_sum(group),
                    "models": list(dict.fromkeys(r["model"] for r in busiest)),
                    "queues": list(dict.fromkeys(r["queue"] for r in busiest if r["queue"]))})
    return out


def comparison(config: RoutingConfig, totals: dict[str, Any]) -> dict[str, Any]:
    """The same calls (same tokens) all on one tier's model, at the config's prices."""
    usage = Usage(*(int(totals[t]) for t in TOKENS))
    costs = naive_costs(config, usage, int(totals["calls"]))
    actual = int(totals["cost_micros"])
    out: dict[str, Any] = {}
    for tier in ("opus", "sonnet"):
        model = tier_model(config, tier)
        if model is None:
            out[f"all_on_{tier}"] = None
            continue
        naive = costs[model]
        out[f"all_on_{tier}"] = {
            "model": model, **_money(naive), "savings_usd": usd(naive - actual),
            "savings_ratio": (naive - actual) / naive if naive else None,
            "cost_multiple": naive / actual if actual else None,
        }
    return out


def build(system: Any, played: Played, *, workload: str, scale: float,
          day_seconds: float) -> dict[str, Any]:
    rt: Runtime = system.rt
    config = rt.store.read()
    days = run_days(played.started_at, played.started_at + played.wall_seconds)
    rows = ledger_rows(rt, config, played, days)
    totals = _sum(rows)
    kinds: dict[str, int] = defaultdict(int)
    for tracked in played.tracked.values():
        kinds[tracked.kind] += 1
    breakdown = tasks_and_calls(kinds, task_calls(rt, played, days))
    return {
        "mode": system.mode,
        "where": system.where,
        "workers": system.workers,
        "workload": {"name": workload, "scale": scale, "day_seconds": day_seconds},
        "wall_seconds": round(played.wall_seconds, 2),
        "tasks": {"sent": len(played.tracked), "succeeded": len(played.results),
                  "failed": len(played.failures), "pending": len(played.pending),
                  "by_kind": dict(sorted(kinds.items())),
                  "failures": sorted(set(played.failures.values()))[:10]},
        "tasks_and_calls": breakdown,
        "live_change": played.change,
        "config_version": config.version,
        "config": demo_config.described(rt.store, system.mode, played.base_version),
        "model_keys": per_model_key(rows),
        "rows": rows,
        "totals": totals,
        "naive": comparison(config, totals),
        # Calls answered by provider batches (in the totals, at the batch rate) and what
        # the same calls would have cost at direct prices.
        "batches": demo_batches.summary(run_records(rt, played, days)),
        "budgets": [s.as_dict() for s in BudgetBook(rt.redis, rt.settings.namespace)
                    .status(config)],
        "pricing": "actual: each call priced at call time (ledger); naive: the same tokens "
                   "at the config's current prices",
        # Shadow trials: replays of sampled calls on a candidate, scored against the
        # production answer, paid from their own budgets (not in the totals above).
        "review": _trials_review(played.review),
        # A new model evaluated the same day: the day's recorded samples replayed on a
        # candidate from the price catalog (trial spend, not in the totals above).
        "replay": played.replay,
        # Typed outputs per mechanism: native structured output or the prompt convention.
        "structured_output": {**demo_structured.summary(played, config),
                              "format_error_rate": system.rt.settings
                              .simulated_format_error_rate if system.mode == "offline"
                              else None},
    }


def _trials_review(review: dict[str, Any] | None) -> dict[str, Any] | None:
    """The day's review, reduced to the keys that ran trials."""
    if review is None:
        return None
    keys = {k: e for k, e in review["model_keys"].items() if e["trials"]}
    return {**review, "model_keys": keys}


def render(report: dict[str, Any], console: Console) -> None:
    t = report["tasks"]
    console.print(f"[bold]llm-router demo[/] ({report['mode']}: {report['where']}): "
                  f"{t['sent']} tasks, {t['succeeded']} done, {t['failed']} failed, "
                  f"{t['pending']} unanswered in {report['wall_seconds']} s")
    table = Table("model key", "calls", "model(s)", "queue(s)", "input", "output",
                  "cache r/w", "cost $")
    for k in report["model_keys"]:
        table.add_row(k["model_key"], str(k["calls"]), ", ".join(k["models"]),
                      ", ".join(k["queues"]), str(k["input_tokens"]), str(k["output_tokens"]),
                      f"{k['cache_read_tokens']}/{k['cache_write_tokens']}",
                      f"{k['cost_usd']:.6f}")
    tot = report["totals"]
    table.add_row("[bold]total", str(tot["calls"]), "", "", str(tot["input_tokens"]),
                  str(tot["output_tokens"]),
                  f"{tot['cache_read_tokens']}/{tot['cache_write_tokens']}",
                  f"[bold]{tot['cost_usd']:.6f}")
    console.print(table)
    for line in demo_config.lines(report["config"]):
        console.print(line, soft_wrap=True)
    console.print(_why_tasks_and_calls_differ(report["tasks_and_calls"]))
    split = [r for r in report["rows"] if r["model_key"] in _changed(report)]
    change = report["live_change"]
    if change:
        console.print(f"live change at {change['at']}: {change['model_key']} "
                      f"{change['from']} -> {change['to']} (config version "
                      f"{change['version_before']} -> {change['version']}; restored as "
                      f"version {change.get('restored_version')})")
        for r in split:
            console.print(f"  {r['model']} on {r['queue']}: {r['calls']} calls, "
                          f"config versions {r['config_versions']}")
    big = [r for r in report["rows"] if r["rules"].get("large_context_to_kimi")]
    for r in big:
        console.print(f"50,000-token rule: {r['rules']['large_context_to_kimi']} "
                      f"{r['model_key']} calls on {r['model']} ({r['queue']})")
    for name, c in report["naive"].items():
        if c is not None:
            console.print(f"{name.replace('_', ' ')} ({c['model']}): ${c['cost_usd']:.6f} - "
                          f"routing saved ${c['savings_usd']:.6f} "
                          f"({_pct(c['savings_ratio'])}; {_times(c['cost_multiple'])} "
                          f"the routed cost)")
    b = report["batches"]
    if b["calls"]:
        share = b["saved_micros"] / b["direct_micros"] if b["direct_micros"] else None
        console.print(f"provider batches: {b['calls']} calls of {', '.join(b['model_keys'])} "
                      f"in {b['batches']} batches, ${usd(b['cost_micros']):.6f} at the batch "
                      f"rate (${usd(b['direct_micros']):.6f} at direct prices): saved "
                      f"${usd(b['saved_micros']):.6f} ({_pct(share)})", soft_wrap=True)
    structured = report["structured_output"]
    for line in demo_structured.lines(structured, structured["format_error_rate"]):
        console.print(line, soft_wrap=True)
    if report.get("agent_loop"):
        console.print(demo_agent.line(report["agent_loop"]), soft_wrap=True, markup=False)
    budgets = Table("budget", "limit $", "spent $", "reserved $", "remaining $", "resets at")
    for b in report["budgets"]:
        budgets.add_row(b["budget"], _usd(b["limit_usd"]), _usd(b["spent_usd"]),
                        _usd(b["reserved_usd"]), _usd(b["remaining_usd"]), b["resets_at"])
    console.print(budgets)
    if report.get("review"):
        console.print("[bold]is the cheaper model good enough?[/] (shadow trials, "
                      "`llm-router review`)")
        for line in review_lines(report["review"], only_trials=True):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if report.get("replay"):
        for line in replay_lines(report["replay"]):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    for failure in t["failures"]:
        console.print(f"[red]failed:[/] {failure}")


def replay_lines(r: dict[str, Any]) -> list[str]:
    """The same-day evaluation of a new model, as the operator's three commands saw it."""
    lines = [f"a new model evaluated the same day (recorded samples replayed): {r['model_key']} "
             f"on {r['model']}, {r['recorded']} calls recorded"]
    lines.append(f"  review --candidates: {r['candidates']} cheaper models fit, "
                 f"{r['new_candidates']} of them new to the config")
    if "candidate" not in r:
        lines.append(f"  {r.get('reason', 'nothing to replay')}")
        return lines
    c, rep = r["candidate"], r["replay"]
    lines.append(f"  --add: {c['model']} ({c['provider']}{', new' if c['new'] else ''}), "
                 f"a trial of it; saves ${c['monthly_saving_usd']:.2f}/month at catalog prices")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(rep["counts"].items()))
    price = " at the batch price" if rep["batch"] else ""
    lines.append(f"  trial replay: {rep['sent']} samples{price} ({counts}), "
                 f"${rep['cost_usd']:.6f} of trial budget")
    rec = r["recommendation"]
    action = rec["action"] if rec["action"] == "keep" else f"{rec['action']} -> {rec['to']}"
    lines.append(f"  review: {action}: {rec['reason']}")
    return lines


def _why_tasks_and_calls_differ(b: dict[str, int]) -> str:
    sent_calls = b["sent"] - b["cron_runs"]
    lines = [
        f"{b['tasks']} tasks: {b['sent']} sent ({sent_calls} ad-hoc, {b['cron_runs']} cron "
        f"runs) + {b['handed_on_by_crons']} that the crons handed on to typed tasks",
        f"{b['calls']} provider calls: {b['tasks_with_calls']} tasks called a model, "
        + ("once each" if b["extra_calls"] == 0 else
           f"{b['extra_calls']} calls more for retries, fallbacks and escalations"),
        f"{b['tasks_without_calls']} tasks called none: {b['cron_runs_without_calls']} cron "
        "runs (a cron hands its work on, or skips an empty inbox)"
        + (f", {b['other_tasks_without_calls']} failed or deferred before a call"
           if b["other_tasks_without_calls"] else ""),
    ]
    return "\n".join(lines)


def _changed(report: dict[str, Any]) -> set[str]:
    change = report["live_change"]
    return {change["model_key"]} if change else set()


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def _pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.1%}"


def _times(multiple: float | None) -> str:
    return "-" if multiple is None else f"{multiple:.2f}x"
