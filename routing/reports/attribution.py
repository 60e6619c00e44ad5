"""Who spent it: the cost report per agent, per tag and per run (`cost report --by`).

Read from what the settle script counts for attributed calls (`routing.spend.runs`): the
days' per-agent and per-tag rows, the dearest runs, and one run's calls in order. JSON-able;
money in integer micro-dollars, with USD for display.
"""

from __future__ import annotations

from typing import Any, Literal

from routing.money import usd
from routing.spend.runs import RunBook

By = Literal["agent", "run", "tag"]
DEAREST_RUNS = 10


def build_attribution(book: RunBook, days: list[str], *, runs: int = DEAREST_RUNS
                      ) -> dict[str, Any]:
    """Spend per agent and per tag over `days`, and the `runs` dearest runs (with each
    agent's own dearest runs)."""
    spend = book.spend(days)
    total = sum(s.get("micros") for s in spend.get("agent", {}).values())
    agents = sorted((s.as_dict() for s in spend.get("agent", {}).values()),
                    key=lambda a: (-a["micros"], a["name"]))
    for a in agents:
        a["share"] = round(a["micros"] / total, 4) if total else 0.0
    tags = sorted((s.as_dict() for s in spend.get("tag", {}).values()),
                  key=lambda t: (-t["micros"], t["name"]))
    dearest = book.runs(days, n=max(runs, 200))
    for a in agents:
        a["dearest_runs"] = [r["run_id"] for r in dearest if r["agent"] == a["name"]][:5]
    return {
        "days": days,
        "attributed_micros": total,
        "attributed_usd": usd(total),
        "agents": agents,
        "tags": tags,
        "runs": dearest[:runs],
    }


def rows_by(report: dict[str, Any], by: By) -> tuple[list[str], list[list[str]]]:
    """The table of `report` (`build_attribution`) by agent, run or tag."""
    if by == "run":
        headers = ["run", "agent", "state", "calls", "refused", "cost (days)", "cost (run)",
                   "cap"]
        rows = [[r["run_id"], r["agent"] or "-", r["state"], str(r["calls"]),
                 str(r["refused"]), f"${r['day_cost_usd']:.6f}", f"${r['cost_usd']:.6f}",
                 _cap(r)] for r in report["runs"]]
        return headers, rows
    items = report["agents" if by == "agent" else "tags"]
    headers = [by, "calls", "errors", "input tok", "output tok", "cost", "trial cost"]
    rows = [[i["name"], str(i["calls"]), str(i.get("errors", 0)),
             str(i.get("input_tokens", 0)), str(i.get("output_tokens", 0)),
             f"${i['cost_usd']:.6f}", f"${i.get('trial_cost_usd', 0.0):.6f}"]
            for i in items]
    return headers, rows


def run_rows(run: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """A run's calls in order (`Run.as_dict()`): model key, model, hop, cost."""
    headers = ["#", "agent", "model key", "model", "hop", "outcome", "cost"]
    rows = [[str(i + 1), str(c.get("agent") or run.get("agent") or "-"), c["model_key"],
             c["model"], c.get("hop") or "-",
             ("trial " if c.get("trial") else "") + str(c.get("outcome", "ok")),
             f"${usd(int(c.get('cost_micros') or 0)):.6f}"]
            for i, c in enumerate(run["calls_in_order"])]
    return headers, rows


def _cap(run: dict[str, Any]) -> str:
    parts = []
    if run.get("cap_usd") is not None:
        parts.append(f"${run['cap_usd']:.6f}")
    if run.get("cap_calls") is not None:
        parts.append(f"{run['cap_calls']} calls")
    return ", ".join(parts) or "-"
