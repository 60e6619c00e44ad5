"""The routing review: per model key, the evidence of the last N days and a recommendation
anyone can check by hand, and the config change that carries it out.

The rules (`recommend`), in order:
- switch down to a trial candidate when the lower bound of its 95% agreement interval is
  at least the key's `min_agreement` on at least `min_samples` samples, and it is cheaper
  on the window's tokens of the key's own model (several: the largest saving; every
  trial's saving is in the review, `monthly_saving_usd`);
- move up to the escalation target's model when escalations are frequent enough that
  starting there is cheaper: per call, c(model) + rate x c(target) > c(target), priced on
  the average tokens of a call on the key's model, on at least `min_samples` calls;
- else keep, saying why (no candidate, too few samples, agreement too low, dearer).

`apply` writes the recommended change through the config store (validated, versioned,
author `review`, the evidence in the history entry), so `config rollback` undoes it. The
monthly Beat cron stores the review (`store_review`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from routing.config.models import ModelKeySpec, RoutingConfig, downgrade_problem
from routing.config.store import ConfigStore
from routing.days import report_days
from routing.errors import ConfigError, NothingToApplyError, VersionConflictError
from routing.evidence.per_key import MONTH_DAYS, SAVING_BASIS, key_evidence, observed_days
from routing.evidence.price_drift import price_drift
from routing.keys import keyspace
from routing.money import usd
from routing.prices.pricing import Usage, cost_micros
from routing.spend.aggregates import merge
from routing.spend.ledger import Ledger

AUTHOR = "review"


def review(ledger: Ledger, config: RoutingConfig, days: int = 30,
           *, day: str | None = None) -> dict[str, Any]:
    """The evidence and the recommendation of every model key over `days` UTC days."""
    span = report_days(day, days)
    per_day = ledger.by_day(span)
    prod = [row for _, rows, _ in per_day for row in rows]
    trials = [row for _, _, rows in per_day for row in rows]
    keys = key_evidence(config, len(span), prod, trials,
                        observed_days([(d, rows) for d, rows, _ in per_day]))
    for key, entry in keys.items():
        entry["recommendation"] = recommend(config, key, entry)
    actions = [k for k, e in keys.items() if e["recommendation"]["action"] != "keep"]
    trial_spend = sum(t["trial_spend_micros"] for e in keys.values() for t in e["trials"])
    summary = (
        f"{len(span)} days to {span[-1]}: {sum(e['calls'] for e in keys.values())} calls, "
        f"${usd(sum(e['cost_micros'] for e in keys.values())):.2f} "
        f"(trials ${usd(trial_spend):.2f} apart); "
        + (", ".join(f"{k}: {keys[k]['recommendation']['action']} to "
                     f"{keys[k]['recommendation']['to']}" for k in actions)
           if actions else "no change recommended")
    )
    prices = price_drift(config, merge(prod))
    if prices["drifted"]:
        summary += (f"; prices drift from the catalog on {', '.join(prices['drifted'])} "
                    f"(${prices['difference_usd']:+.2f} against catalog prices)")
    return {"from": span[0], "to": span[-1], "days": len(span),
            "config_version": config.version, "model_keys": keys, "summary": summary,
            "prices": prices, "saving_basis": SAVING_BASIS,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _keep(reason: str) -> dict[str, Any]:
    return {"action": "keep", "to": None, "reason": reason, "monthly_saving_usd": 0.0}


def recommend(config: RoutingConfig, key: str, entry: dict[str, Any]) -> dict[str, Any]:
    spec = config.model_keys[key]
    reasons: list[str] = []
    switch: dict[str, Any] | None = None
    for t in entry["trials"]:
        cand = t["candidate"]
        if cand not in config.models or cand == spec.model:
            continue
        saving = t["monthly_saving_micros"]
        interval = (f"agreement {t['agreement']:.3f}, interval [{t['agreement_low']:.3f}, "
                    f"{t['agreement_high']:.3f}]" if t["samples"] else "")
        if t["samples"] and t["agreement_high"] < spec.min_agreement:
            reasons.append(f"{cand}: agreement too low: {interval} is all below "
                           f"{spec.min_agreement}")
        elif t["samples"] < spec.min_samples:
            reasons.append(f"{cand}: {t['samples']} samples, fewer than {spec.min_samples}"
                           + (f" ({t['unjudged']} free-text samples unjudged: set a judge)"
                              if t["unjudged"] else ""))
        elif t["agreement_low"] < spec.min_agreement:
            reasons.append(f"{cand}: {interval} below {spec.min_agreement}")
        elif saving <= 0:
            reasons.append(f"{cand}: agrees, but costs more on this key's tokens")
        elif switch is None or saving > switch["saving"]:
            switch = {"to": cand, "saving": saving, "trial": t}
    if switch is not None:
        t = switch["trial"]
        return {"action": "switch", "to": switch["to"],
                "monthly_saving_usd": round(usd(switch["saving"]), 2),
                "reason": (f"agreement {t['agreement']:.3f} [{t['agreement_low']:.3f}, "
                           f"{t['agreement_high']:.3f}] on {t['samples']} samples"
                           f"{_split(t)} >= "
                           f"{spec.min_agreement}; saves ${usd(switch['saving']):.2f}/month")}
    up = _move_up(config, spec, entry)
    if up is not None:
        return up
    if not entry["trials"] and not spec.trials:
        return _keep("no candidate: add a trial to measure one")
    return _keep("; ".join(reasons) or "no trial samples yet")


def _split(trial: dict[str, Any]) -> str:
    """" (live L + replay R)" when replayed samples count (the Wilson rule is on the sum)."""
    if "replay" not in trial or not trial["replay"]["samples"]:
        return ""
    return f" (live {trial['live']['samples']} + replay {trial['replay']['samples']})"


def _move_up(config: RoutingConfig, spec: ModelKeySpec,
             entry: dict[str, Any]) -> dict[str, Any] | None:
    if spec.escalate_to is None or entry["model_calls"] < spec.min_samples:
        return None
    target = config.model_keys[spec.escalate_to].model
    rate = entry["escalation_rate"] or 0.0
    calls = entry["model_calls"]
    if target == spec.model or calls == 0:
        return None
    usage = Usage(**entry["model_usage"])  # the tokens of a call on the key's model
    per_call = Usage(*(round(n / calls) for n in
                       (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                        usage.cache_write_tokens)))
    own = cost_micros(per_call, config.price_of(spec.model))
    up = cost_micros(per_call, config.price_of(target))
    expected = own + rate * up
    if expected <= up:
        return None
    saving = (expected - up) * calls * MONTH_DAYS / max(1, entry["days_observed"])
    return {"action": "move_up", "to": target, "monthly_saving_usd": round(usd(round(saving)), 2),
            "reason": (f"{rate:.1%} of {calls} calls escalate: {own} + {rate:.3f} x {up} = "
                       f"{expected:.0f} > {up} micro-dollars per call on {target} directly")}


def change_for(config: RoutingConfig, key: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The config document with `rec` carried out on `key`."""
    doc = config.document()
    spec = doc["model_keys"][key]
    old, new = spec["model"], rec["to"]
    spec["model"] = new
    rest = [m for m in spec.get("fallbacks", []) if m not in (old, new)]
    if rec["action"] == "switch":
        # the measured model stays next in line, should the candidate be unavailable
        spec["fallbacks"] = [old, *rest]
        spec["trials"] = [t for t in spec.get("trials", []) if t["candidate"] != new]
        target = spec.get("downgrade_to")
        if target is not None and (target == new or downgrade_problem(
                config.models, new, target) is not None):
            # a downgrade no cheaper than the new model would spend more when the budget
            # is out: the key defers instead
            spec["downgrade_to"] = None
            if spec.get("on_budget_exceeded") == "downgrade":
                spec["on_budget_exceeded"] = "defer"
    else:
        spec["fallbacks"] = rest
        target = doc["model_keys"][spec["escalate_to"]]
        spec["escalate_to"] = target.get("escalate_to")
    return doc


def apply(store: ConfigStore, ledger: Ledger, key: str, *, days: int = 30,
          day: str | None = None,
          expect_version: int | None = None) -> tuple[RoutingConfig, dict[str, Any]]:
    """Carry out `key`'s recommendation (a new config version by `review`); raise
    `VersionConflictError` when `expect_version` is not the stored version (checked
    first: a stale caller learns that before anything else), `ConfigError` for an unknown
    key, `NothingToApplyError` when the recommendation says keep."""
    config = store.read()
    if expect_version is not None and expect_version != config.version:
        # the caller decided on another version's review: whatever this one says (keep
        # included) is not what they saw, so the conflict is the answer
        raise VersionConflictError(expect_version, config.version)
    if key not in config.model_keys:
        raise ConfigError([(f"model_keys.{key}", "unknown model key (known: "
                            f"{', '.join(sorted(config.model_keys))})")])
    result = review(ledger, config, days, day=day)
    rec = result["model_keys"][key]["recommendation"]
    if rec["action"] == "keep":
        raise NothingToApplyError(key, rec["reason"])
    old = config.model_keys[key].model
    summary = f"review: {key} {rec['action']} {old} -> {rec['to']}: {rec['reason']}"
    stored = store.write(change_for(config, key, rec), author=AUTHOR, summary=summary,
                         expect_version=config.version if expect_version is None
                         else expect_version)
    return stored, rec


def review_key(namespace: str, month: str | None = None) -> str:
    return f"{keyspace(namespace)}:reports:routing_review:{month or 'latest'}"


def store_review(ledger: Ledger, config: RoutingConfig, days: int = 30) -> dict[str, Any]:
    """Build the review, with the candidates proposed per key (`routing.evidence.
    candidates`), and keep it in Redis (by month, and as the latest)."""
    from routing.evidence.candidates import propose
    from routing.samples.store import SampleStore

    result = review(ledger, config, days)
    samples = SampleStore(ledger.client, ledger.namespace)
    try:
        result["candidates"] = propose(config, result["model_keys"], {
            k: samples.largest_input(k) for k in result["model_keys"]})
    except (LookupError, ValueError) as exc:  # a catalog failure is not the review's
        result["candidates"] = {"error": f"{type(exc).__name__}: {exc}"}
    raw = json.dumps(result, separators=(",", ":"))
    keep = ledger.aggregate_keep_days * 86400
    ledger.client.set(review_key(ledger.namespace, result["to"][:7]), raw, ex=keep)
    ledger.client.set(review_key(ledger.namespace), raw, ex=keep)
    return result


def load_review(ledger: Ledger) -> dict[str, Any] | None:
    raw = ledger.client.get(review_key(ledger.namespace))
    return None if raw is None else dict(json.loads(raw))
