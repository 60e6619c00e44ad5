"""Helpers of the provider-batch tests: a key's batch settings, Beat's round played now."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.result import AsyncResult

from tests.support.celery import Session


def set_batch(session: Session, key: str, model: str | None = None,
              **batch: Any) -> int:
    """Give `key` these batch settings (and `model`), as a new config version live here."""
    from workers.execution.runtime import get_runtime

    def change(doc: dict[str, Any]) -> str:
        spec = doc["model_keys"][key]
        if model is not None:
            spec["model"] = model
        spec["batch"] = batch or None
        return f"tests: batch {key}"

    cfg = session.store.update(change, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)
    return cfg.version


def beat_round(app: Celery, *, flush: bool = False, timeout: float = 15) -> dict[str, Any]:
    """Beat's batch entry, once, and the sweeps it asked for, until they are done."""
    out: dict[str, Any] = app.send_task("cron.provider_batches", kwargs={"flush": flush},
                                        ignore_result=False).get(timeout=timeout)
    out["results"] = {model: AsyncResult(task_id, app=app).get(timeout=timeout)
                      for model, task_id in out["sweeps"].items()}
    return out


def submit_waiting(app: Celery, calls: int = 1, *, timeout: float = 15) -> dict[str, Any]:
    """Once `calls` calls wait in open batches, Beat's round with `flush` (their batches
    submitted whatever their age; the test server answers them at once, and the same
    round delivers the answers)."""
    from tests.support.wait import wait_until
    from workers.execution.runtime import get_runtime

    def waiting() -> int:
        return get_runtime().batches.summary().get("open", (0, 0))[1]

    wait_until(lambda: waiting() >= calls, timeout=timeout,
               what=f"{calls} call(s) waiting in open batches")
    return beat_round(app, flush=True, timeout=timeout)
