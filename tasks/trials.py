"""Shadow trials, the task side: sample a finished production task, and `llm.trial`.

After a task of a model key with trials succeeds on the key's own model (its result
stored: the caller never waits for this; an answer from a rule's target, a fallback, an
escalation or a downgrade is not sampled), each trial samples it deterministically on the
task id (a re-delivered task samples the same way, and the trial's call id makes a replay
a no-op). A sampled task reserves the shadow's worst case in the trial's own budget (no
room: no shadow, so sampling stops until the window resets) and sends `llm.trial` to the
candidate's tier queue; `workers.execution.trial` runs and scores it there.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from celery import Task

from routing.attribution import Attribution
from routing.attribution import split as split_attribution
from routing.config.models import ModelKeySpec, Trial
from routing.errors import AttributionError, BudgetExceededError
from routing.prices.pricing import worst_case_micros
from tasks.kinds import KINDS
from tasks.run_spec import RunSpec
from workers.app import app
from workers.attribution import task_attribution
from workers.contract import RUN_TASK, WorkSpec
from workers.execution.runtime import get_runtime
from workers.execution.trial import TrialJob, run_trial

log = logging.getLogger(__name__)

TRIAL_TASK = "llm.trial"
SPECS: dict[str, WorkSpec] = {RUN_TASK: RunSpec(), **{k.name: k for k in KINDS}}


def sampled(task_id: str, candidate: str, share: float) -> bool:
    """Whether this task is in the `share` replayed on `candidate` (same answer each time)."""
    digest = hashlib.sha256(f"{task_id}\0{candidate}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def candidates_for(key: ModelKeySpec, served_by: object) -> list[Trial]:
    """The trials that may sample a success of `key` served by model `served_by`: none
    unless the key's own model gave the answer (a rule's target, a fallback, an
    escalation or a downgrade is not what a candidate is weighed against)."""
    if served_by != key.model:
        return []
    return [t for t in key.trials if t.candidate != key.model]


def sample_trials(
    task_name: str, task_id: str, kwargs: dict[str, Any], result: dict[str, Any]
) -> list[str]:
    """Send the shadows of a successful task; return the candidates sampled."""
    rt = get_runtime()
    cfg = rt.router.config
    key = cfg.model_keys.get(str(result.get("model_key")))
    if key is None or not key.trials or task_name not in SPECS:
        return []
    usage = result.get("usage") or {}
    input_tokens = sum(int(usage.get(f, 0)) for f in
                       ("input_tokens", "cache_read_tokens", "cache_write_tokens"))
    max_tokens = int(kwargs.get("max_tokens") or key.max_tokens)
    sent: list[str] = []
    turn = result.get("tool_calls") or kwargs.get("tools") or kwargs.get("messages")
    # (an attributed task's agent, run and tags are not the call's input)
    needs = SPECS[task_name].parse(split_attribution(kwargs)[0], cfg).needs if turn \
        else frozenset()
    for trial in candidates_for(key, result.get("model")):
        candidate = trial.candidate
        if candidate not in cfg.models:
            continue
        model = cfg.models[candidate]
        if not model.can(needs):
            continue  # a tool or image turn is never replayed on a model without it
        if input_tokens + max_tokens > model.context_window:
            continue  # the candidate cannot hold this input: nothing to learn
        if not sampled(task_id, candidate, trial.sample):
            continue
        call_id = f"trial:{task_id}:{candidate}"
        # the trial call is clamped to the candidate's output limit: reserve what it may cost
        worst = worst_case_micros(input_tokens, min(max_tokens, model.max_output_tokens),
                                  cfg.price_of(candidate))
        try:
            held = rt.budgets.reserve_trial(cfg, str(result["model_key"]), candidate,
                                            call_id, worst)
        except BudgetExceededError as exc:
            log.debug("trial of %s on %s not sampled: %s", candidate, result["model_key"], exc)
            rt.ledger.count((str(result["model_key"]), candidate, cfg.models[candidate].tier),
                            {"skipped_budget": 1}, trial=True)
            continue
        if held.duplicate:
            rt.ledger.count((str(result["model_key"]), candidate, cfg.models[candidate].tier),
                            {"replayed": 1}, trial=True)
            continue
        job = {
            "task_id": task_id, "task_name": task_name, "model_key": result["model_key"],
            "candidate": candidate, "call_id": call_id, "kwargs": kwargs,
            "output": result.get("output") or {}, "text": result.get("text", ""),
            "latency_ms": float(result.get("latency_s", 0.0)) * 1000,
            "cost_micros": int(result.get("cost_micros", 0)),
            "tool_calls": result.get("tool_calls") or [],
        }
        queue = cfg.tiers[cfg.models[candidate].tier].queue
        app.send_task(TRIAL_TASK, kwargs=job, queue=queue, task_id=f"{task_id}:trial:{candidate}")
        sent.append(candidate)
    return sent


class TrialTask(Task):  # type: ignore[type-arg]
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True  # the scores live in the trial ledger, not in results


@app.task(base=TrialTask, bind=True, name=TRIAL_TASK)
def trial(self: TrialTask, /, **job: Any) -> dict[str, Any]:
    """Replay a sampled production task on a candidate model and score the answer."""
    spec = SPECS[job.pop("task_name")]
    try:  # the production task's attribution (its kwargs, else the headers it passed on)
        who = task_attribution(self.request, job.get("kwargs") or {})
    except AttributionError:
        who = Attribution()
    return run_trial(spec, TrialJob(**job, attribution=who), get_runtime())
