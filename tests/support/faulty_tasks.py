"""A task with a genuine bug, for the worker-log test only: a subprocess worker loads it
with `--include tests.support.faulty_tasks`, so no other worker (nor the product) has it."""

from __future__ import annotations

from tasks.base import LLMTask
from workers.app import app

BUG_TASK = "tests.faulty.bug"


@app.task(base=LLMTask, bind=True, name=BUG_TASK)
def bug(self: LLMTask) -> None:
    raise RuntimeError("a genuine bug: this must be logged with its traceback")
