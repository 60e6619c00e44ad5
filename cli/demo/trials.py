"""The demo's shadow trials: add them to the config for the day, wait for the shadows of
the day's tasks to be scored, and take them out again (leaving a deployment as found)."""

from __future__ import annotations

import time
from typing import Any

from routing.spend.aggregates import TrialRow
from tasks.trials import candidates_for, sampled
from workers.execution.runtime import Runtime

AUTHOR = "llm-router demo"
POLL_SECONDS = 0.05


def start(rt: Runtime, trials: dict[str, list[dict[str, Any]]]) -> int | None:
    """Add `trials` (model key -> entries) as one config version; its number, or None."""
    if not trials:
        return None

    def add(doc: dict[str, Any]) -> str:
        for key, entries in trials.items():
            doc["model_keys"][key]["trials"] = [
                *doc["model_keys"][key].get("trials", []), *entries]
        return "demo: shadow trials " + ", ".join(
            f"{key} on {e['candidate']}" for key, es in trials.items() for e in es)

    stored = rt.store.update(add, author=AUTHOR)
    rt.live.wait_for_version(stored.version, timeout=5)
    return stored.version


def expected(rt: Runtime, results: dict[str, Any]) -> dict[tuple[str, str], int]:
    """(model key, candidate) -> shadows the day's successful tasks sampled."""
    cfg = rt.live.get()
    out: dict[tuple[str, str], int] = {}
    for task_id, result in results.items():
        if not isinstance(result, dict) or "model_key" not in result:
            continue
        spec = cfg.model_keys.get(result["model_key"])
        for trial in candidates_for(spec, result.get("model")) if spec else ():
            if sampled(task_id, trial.candidate, trial.sample):
                key = (result["model_key"], trial.candidate)
                out[key] = out.get(key, 0) + 1
    return out


def decided(rows: list[TrialRow]) -> dict[tuple[str, str], int]:
    """(model key, candidate) -> samples settled, refused for budget or replayed."""
    out: dict[tuple[str, str], int] = {}
    for r in rows:
        done = r.calls - r.judge_calls + r.skipped_budget + r.replayed
        out[(r.model_key, r.model)] = out.get((r.model_key, r.model), 0) + done
    return out


def wait_for_shadows(rt: Runtime, results: dict[str, Any], days: list[str],
                     timeout: float) -> bool:
    """Wait until every sampled shadow of `results` was scored; False on timeout."""
    wanted = expected(rt, results)
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for day in days for r in rt.ledger.trial_aggregates(day)]
        done = decided(rows)
        if all(done.get(k, 0) >= n for k, n in wanted.items()):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)


def end(rt: Runtime, trials: dict[str, list[dict[str, Any]]]) -> None:
    """Take the demo's trials out of the config again (one version)."""
    if not trials:
        return

    def remove(doc: dict[str, Any]) -> str:
        for key, entries in trials.items():
            ours = {e["candidate"] for e in entries}
            spec = doc["model_keys"].get(key)
            if spec is not None:
                spec["trials"] = [t for t in spec.get("trials", []) if t["candidate"] not in ours]
        return "demo: shadow trials ended"

    stored = rt.store.update(remove, author=AUTHOR)
    rt.live.wait_for_version(stored.version, timeout=5)
