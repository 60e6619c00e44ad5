"""The demo's provider batches: the keys it batches for the day, Beat's batch entry played
at the compressed day's pace, and what the batches saved.

The shipped config batches content curation; the workload adds the monitoring cron's
work for the day (and takes it out again at the end, leaving a deployment as found). A
day of the demo lasts seconds, so `max_wait_seconds` of real time never pass: each round
of Beat's batch entry (`cron.provider_batches`) is sent with `flush`, which submits every
open batch whatever its age; the simulated provider answers a batch at once.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from routing.config.stored import dump
from workers.execution.runtime import Runtime

AUTHOR = "llm-router demo"
ROUND_TASK = "cron.provider_batches"


def start(rt: Runtime, keys: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Give `keys` their batch settings (one config version); what they had before."""
    if not keys:
        return {}
    before = {key: rt.live.get().model_keys[key].batch for key in keys}
    direct = sorted(k for k, batch in before.items() if batch is None)

    def add(doc: dict[str, Any]) -> str:
        for key, batch in keys.items():
            doc["model_keys"][key]["batch"] = batch
        return "demo: provider batches for " + ", ".join(sorted(keys)) + (
            f" (the config it started from calls {', '.join(direct)} directly)"
            if direct else "")

    stored = rt.store.update(add, author=AUTHOR)
    rt.live.wait_for_version(stored.version, timeout=5)
    return {k: None if v is None else dump(v) for k, v in before.items()}


def end(rt: Runtime, before: dict[str, Any]) -> None:
    """Give the keys their batch settings of before the day (one version)."""
    if not before:
        return

    def restore(doc: dict[str, Any]) -> str:
        for key, batch in before.items():
            if key in doc["model_keys"]:
                doc["model_keys"][key]["batch"] = batch
        return "demo: provider batches ended"

    stored = rt.store.update(restore, author=AUTHOR)
    rt.live.wait_for_version(stored.version, timeout=5)


def play_round(app: Celery) -> None:
    """One round of Beat's batch entry, submitting every open batch (see the docstring)."""
    app.send_task(ROUND_TASK, kwargs={"flush": True}, ignore_result=True)


def waiting(rt: Runtime) -> bool:
    """Whether any call waits in a batch (open, or at the provider)."""
    return any(calls for _, calls in rt.batches.summary().values())


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What this run's batched calls cost, against the same calls at direct prices."""
    batched = [r for r in records if r.get("batch_id")]
    cost = sum(int(r["cost_micros"]) for r in batched)
    direct = sum(int(r.get("direct_micros") or 0) for r in batched)
    keys = sorted({r["model_key"] for r in batched})
    return {"calls": len(batched), "batches": len({r["batch_id"] for r in batched}),
            "model_keys": keys, "cost_micros": cost, "direct_micros": direct,
            "saved_micros": direct - cost}
