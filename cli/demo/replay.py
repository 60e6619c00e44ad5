"""The demo's same-day evaluation of a new model: record the day's calls of one key,
then at the day's end propose candidates from the price catalog, trial the best one
whose provider has a batch API, replay the recorded samples on it at the batch price
and read the review's recommendation (issue: a new model evaluated in hours).

Each step is the one the operator runs (`review --candidates --add`, `trial replay`,
`review`), through the same functions; the config changes are undone at the end and the
samples purged (the demo leaves a deployment as found).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cli.demo.workload import ReplayPlay
from cli.replay_run import plan, send_and_wait, summary_document
from routing.evidence.candidates import add_trials, propose
from routing.evidence.review import review
from workers.execution.replay import batch_available
from workers.execution.runtime import Runtime

AUTHOR = "llm-router demo"
SAMPLES = {"share": 1.0, "max_count": 2000, "max_bytes": 65536, "retention_days": 1}


def start(rt: Runtime, spec: ReplayPlay | None) -> None:
    """Record every call of the key for the day (one config version)."""
    if spec is None:
        return

    def record(doc: dict[str, Any]) -> str:
        doc["model_keys"][spec.model_key]["samples"] = dict(SAMPLES)
        return f"demo: record samples of {spec.model_key}"

    stored = rt.store.update(record, author=AUTHOR)
    rt.live.wait_for_version(stored.version, timeout=5)


def run(rt: Runtime, app: Any, spec: ReplayPlay | None, days: list[str],
        timeout: float) -> dict[str, Any] | None:
    """Candidates, a trial of the best batchable one, the replay, the review."""
    if spec is None:
        return None
    key = spec.model_key
    config = rt.live.get()
    evidence = review(rt.ledger, config, days=len(days))["model_keys"]
    proposed = propose(config, {key: evidence[key]}, {key: rt.samples.largest_input(key)})
    found = proposed[key]["candidates"]
    batchable = [c for c in found if c["provider"] in ("anthropic", "openai")
                 and c["price"].get("batch_discount") and not c["in_trial"]]
    out: dict[str, Any] = {"model_key": key, "model": config.model_keys[key].model,
                           "recorded": rt.samples.summary(key).count,
                           "candidates": len(found),
                           "new_candidates": sum(1 for c in found if c["new"])}
    if not batchable:
        out["reason"] = "no cheaper candidate with a batch API fits"
        return out
    pick = batchable[0]
    doc, changes = add_trials(config, {key: {**proposed[key], "candidates": [pick]}}, [key],
                              budget_usd=Decimal(str(spec.trial_budget_usd)))
    stored = rt.store.write(doc, author=AUTHOR, summary="demo: review --candidates --add: "
                            + "; ".join(changes), expect_version=config.version)
    rt.live.wait_for_version(stored.version, timeout=5)
    config = rt.live.get()
    candidate = pick["model"]
    chosen = plan(rt.samples, config, key, candidate,
                  batch=batch_available(config, candidate), samples=None, budget_usd=None)
    outcome = send_and_wait(app, config, chosen, timeout=timeout, poll_seconds=0.05)
    after = review(rt.ledger, config, days=len(days))["model_keys"][key]
    trial = next((t for t in after["trials"] if t["candidate"] == candidate), None)
    out.update(candidate=pick, added=changes, replay=summary_document(chosen, outcome),
               trial=trial, recommendation=after["recommendation"])
    return out


def end(rt: Runtime, spec: ReplayPlay | None, base: dict[str, Any]) -> None:
    """Undo the day's sample recording and the candidate's trial and model; purge."""
    if spec is None:
        return
    key = spec.model_key

    def undo(doc: dict[str, Any]) -> str:
        entry = doc["model_keys"][key]
        entry["samples"] = base["model_keys"][key].get("samples")
        added = [t["candidate"] for t in entry.get("trials", [])
                 if t["candidate"] not in {b["candidate"] for b in
                                           base["model_keys"][key].get("trials", [])}]
        entry["trials"] = [t for t in entry.get("trials", []) if t["candidate"] not in added]
        for name in added:
            if name not in base["models"]:
                doc["models"].pop(name, None)
        return f"demo: {key}'s samples and replay trial ended"

    stored = rt.store.update(undo, author=AUTHOR)
    rt.live.wait_for_version(stored.version, timeout=5)
    rt.samples.purge(key)
