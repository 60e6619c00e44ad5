"""What the run cost, per agent and per model, against the same calls all on Opus."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from routing.config.models import RoutingConfig
from routing.money import usd
from routing.prices.pricing import Usage, cost_micros

OPUS_TIER = "opus"


def opus_model(config: RoutingConfig) -> str:
    return next(name for name, spec in config.models.items() if spec.tier == OPUS_TIER)


def _opus_micros(result: dict[str, Any], config: RoutingConfig, model: str) -> int:
    # The task's own usage (its last call's: the one that answered) at Opus prices.
    return cost_micros(Usage(**result["usage"]), config.price_of(model))


def summary(played: dict[str, Any], config: RoutingConfig) -> dict[str, Any]:
    opus = opus_model(config)
    agents: dict[str, dict[str, int]] = defaultdict(lambda: {"calls": 0, "cost_micros": 0,
                                                             "all_opus_micros": 0})
    models: dict[str, dict[str, int]] = defaultdict(lambda: {"calls": 0, "cost_micros": 0})
    for call in played["calls"]:
        r = call.result
        agents[call.agent]["calls"] += 1
        agents[call.agent]["cost_micros"] += r["cost_micros"]
        agents[call.agent]["all_opus_micros"] += _opus_micros(r, config, opus)
        models[r["model"]]["calls"] += 1
        models[r["model"]]["cost_micros"] += r["cost_micros"]
    crons = {c["cron"]: c["answer"]["cost_micros"] for c in played["crons"] if c["answer"]}
    total = sum(a["cost_micros"] for a in agents.values())
    all_opus = sum(a["all_opus_micros"] for a in agents.values())
    return {"run_id": played["run_id"], "opus_model": opus, "agents": dict(agents),
            "models": dict(models), "cost_micros": total, "all_opus_micros": all_opus,
            "crons_micros": crons}


def text(played: dict[str, Any], config: RoutingConfig) -> str:
    s = summary(played, config)
    lines = [f"run {s['run_id']}: {played['request']}", ""]
    for call in played["calls"]:
        r = call.result
        tools = ", ".join(c["name"] for c in r.get("tool_calls") or [])
        did = f"calls {tools}" if tools else (r.get("stop_reason") or "answers")
        lines.append(f"  {call.agent:<13} {call.what:<26} {r['model_key']:<19} "
                     f"{r['model']:<19} ${usd(r['cost_micros']):.6f}  {did}")
    review, decision = played["review"], played["decision"]
    lines.append("")
    if played["stopped"]:
        lines.append(f"the run was stopped by its cap: {played['stopped']}")
    if review and decision:
        lines.append(f"patches proposed: {len(played['patches'])}; reviewer "
                     f"{'approves' if review['approve'] else 'does not approve'} "
                     f"({len(review['findings'])} findings); CEO: {decision['choice']}")
    lines += ["",
              f"{'cost per agent':<16}{'calls':>6}{'cost':>13}"
              f"{'all on ' + s['opus_model']:>28}"]
    for agent, a in sorted(s["agents"].items(), key=lambda kv: -kv[1]["cost_micros"]):
        lines.append(f"  {agent:<14}{a['calls']:>6}  ${usd(a['cost_micros']):>10.6f}"
                     f"  ${usd(a['all_opus_micros']):>24.6f}")
    lines.append(f"  {'the run':<14}{len(played['calls']):>6}  ${usd(s['cost_micros']):>10.6f}"
                 f"  ${usd(s['all_opus_micros']):>24.6f}")
    if s["all_opus_micros"]:
        lines.append(f"  routed: {s['cost_micros'] / s['all_opus_micros']:.0%} of the same "
                     "calls all on Opus")
    lines += ["", f"{'cost per model':<22}{'calls':>6}{'cost':>13}"]
    for model, m in sorted(s["models"].items(), key=lambda kv: -kv[1]["cost_micros"]):
        lines.append(f"  {model:<20}{m['calls']:>6}  ${usd(m['cost_micros']):>10.6f}")
    ledger = played.get("ledger")
    if ledger:
        lines += ["", f"the ledger's view (llm-router runs show {s['run_id']}): "
                  f"{ledger['calls']} calls, ${ledger['cost_usd']:.6f}, {ledger['state']}"]
    lines += ["", "beside the run (Beat crons):"]
    for cron in played["crons"]:
        ran, answer = cron["ran"], cron["answer"]
        if answer:
            did = f"{answer['model']} ${usd(answer['cost_micros']):.6f}"
        elif ran.get("items"):
            did = f"{ran['items']} inbox items handed on (a provider batch, at half price)"
        else:
            did = ran.get("skipped") or "handed on"
        lines.append(f"  {cron['cron']:<24} {did}")
    return "\n".join(lines)
