"""Provider batches, the task side: Beat's round (`cron.provider_batches`) and the sweep of
one model's batches on its tier (`llm.batches`).

Every 30 seconds Beat sends `cron.provider_batches` (to the default queue, like every
cron); it lists the models with work (an open batch that is due, or a batch at its
provider) and sends `llm.batches` for each to that model's tier queue, so that each
provider is called by the workers that hold its key. There `workers.execution.batch_sweep`
submits, polls and delivers, under claims in Redis: two workers or two Beats never submit
or deliver the same batch twice.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from workers.app import app
from workers.contract import DEFAULT_QUEUE
from workers.execution.batch_sweep import BatchSweeper
from workers.execution.runtime import get_runtime

SWEEP_TASK = "llm.batches"
# A sweep message older than a round is dropped: the next round sends a fresh one.
SWEEP_EXPIRES = 30


def _publish(payload: dict[str, Any]) -> None:
    app.signature(payload).apply_async()


class BatchTask(Task):  # type: ignore[type-arg]
    acks_late = True
    reject_on_worker_lost = True
    # Two results a minute per model would crowd the result backend: none is kept, unless
    # the sender asks for it (`send_task(..., ignore_result=False)`); the cron's sweeps
    # keep theirs when the cron's own is kept.
    ignore_result = True


@app.task(base=BatchTask, bind=True, name="cron.provider_batches")
def provider_batches(self: BatchTask, flush: bool = False) -> dict[str, Any]:
    """Every 30 seconds: have each model's tier submit its due batch and poll its batches
    at the provider (`flush`: submit every open batch, whatever its age)."""
    rt = get_runtime()
    cfg = rt.live.get()
    models = BatchSweeper(rt, _publish).models(flush=flush)
    sweeps = {}
    for model in models:
        spec = cfg.models.get(model)
        # (a model that left the config still has its batches delivered, by any worker)
        queue = cfg.tiers[spec.tier].queue if spec is not None else DEFAULT_QUEUE
        sweeps[model] = app.send_task(
            SWEEP_TASK, kwargs={"model": model, "flush": flush}, queue=queue,
            expires=SWEEP_EXPIRES, ignore_result=self.request.ignore_result is not False).id
    return {"models": models, "sweeps": sweeps}


@app.task(base=BatchTask, bind=True, name=SWEEP_TASK)
def sweep(self: BatchTask, model: str, flush: bool = False) -> dict[str, Any]:
    """Submit `model`'s due batch, poll its batches at the provider, deliver the answers."""
    return {"model": model, **BatchSweeper(get_runtime(), _publish).sweep(model, flush=flush)}
