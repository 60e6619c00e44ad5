"""`llm.replay`: recorded samples of a model key asked again of a trial candidate.

Sent by `llm-router trial replay` to the candidate's tier queue; runs on that tier's
worker (`workers.execution.replay`: claimed once per sample, paid from the trial's
budget, scored as live trials are). Its result (every sample's outcome) is what the CLI
waits on. A batched replay polls its provider batch by retrying itself (same task id)
every `poll_seconds` until the batch is over.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from tasks.samples import restore_call
from tasks.trials import SPECS
from workers.app import app
from workers.contract import Call, WorkSpec
from workers.errors import ReplayPendingError
from workers.execution.replay import ReplayJob, replay_batch, replay_direct
from workers.execution.runtime import get_runtime

REPLAY_TASK = "llm.replay"


def restore(sample: dict[str, Any]) -> tuple[WorkSpec, Call]:
    spec = SPECS[str(sample["task_name"])]
    return spec, restore_call(spec, sample)


class ReplayTask(Task):  # type: ignore[type-arg]
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # a batched replay polls until its batch is over


@app.task(base=ReplayTask, bind=True, name=REPLAY_TASK)
def replay(self: ReplayTask, /, *, replay_id: str, model_key: str, candidate: str,
           sample_ids: list[str], batch: bool = False,
           poll_seconds: float = 30.0) -> dict[str, Any]:
    """Replay recorded samples of `model_key` on `candidate` and score them."""
    job = ReplayJob(replay_id, model_key, candidate, tuple(sample_ids), batch)
    rt = get_runtime()
    if not batch:
        return replay_direct(rt, job, restore)
    try:
        return replay_batch(rt, job, restore)
    except ReplayPendingError as exc:
        raise self.retry(countdown=poll_seconds, exc=exc) from None
