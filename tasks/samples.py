"""Recorded samples, the task side: record a finished production task's call and answer.

After a task of a model key with `samples` succeeds on the key's own model (its result
stored: the caller never waits for this), a deterministic share of its calls (on the
task id: a re-delivered task decides the same way) is recorded (`routing.samples`): the
call as the task contract holds it (`workers.contract.call_document`), the validated
answer and its usage. A sample over the key's `max_bytes` is counted and skipped; any
failure here is logged, never the task's. `restore_call` turns a sample back into the
`Call` a replay makes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from routing.attribution import split as split_attribution
from tasks.trials import SPECS, sampled
from tasks.typed import TypedSpec
from workers.contract import Call, WorkSpec, call_document, call_from_document
from workers.execution.runtime import get_runtime

log = logging.getLogger(__name__)

SAMPLE_SALT = "\0samples"  # sampled apart from every trial's share


def record_sample(task_name: str, task_id: str, kwargs: dict[str, Any],
                  result: dict[str, Any]) -> bool:
    """Record the task's call and answer when its key samples it; whether it was stored."""
    rt = get_runtime()
    cfg = rt.router.config
    key = cfg.model_keys.get(str(result.get("model_key")))
    if key is None or key.samples is None or task_name not in SPECS:
        return False
    if result.get("model") != key.model or not sampled(task_id, SAMPLE_SALT, key.samples.share):
        return False
    call = SPECS[task_name].parse(split_attribution(kwargs)[0], cfg)  # agent, run: not input
    sample = {
        "id": task_id, "task_name": task_name, "model_key": call.model_key,
        "model": result.get("model"), "config_version": result.get("config_version"),
        "recorded_at": round(time.time(), 3), "call": call_document(call),
        "answer": {"text": result.get("text", ""), "output": result.get("output") or {},
                   "tool_calls": result.get("tool_calls") or []},
        "usage": result.get("usage") or {},
        "cost_micros": int(result.get("last_call_cost_micros", result.get("cost_micros", 0))),
        "latency_ms": round(float(result.get("latency_s", 0.0)) * 1000, 1),
    }
    stored = rt.samples.record(call.model_key, task_id, sample, key.samples)
    if not stored:
        log.info("task %s: sample of %s not recorded: over samples.max_bytes (%d)", task_id,
                 call.model_key, key.samples.max_bytes)
    return stored


def restore_call(spec: WorkSpec, sample: dict[str, Any]) -> Call:
    """The `Call` of a recorded sample (a typed task's validated input rebuilt by its
    input model, which its output check needs)."""
    document = sample["call"]
    call = call_from_document(document)
    if isinstance(spec, TypedSpec) and document.get("given") is not None:
        call = replace(call, given=spec.input_model.model_validate(document["given"]))
    return call
