"""Celery tasks: `llm.run`, one typed task per kind of work, and the Beat crons.

Tasks are thin: each names its work spec (input and output: `tasks.run_spec`,
`tasks.typed`, `tasks.kinds`), and `workers.execution` routes, calls the provider,
records the cost and returns a JSON-able dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery.exceptions import Ignore

from tasks.base import LLMTask
from tasks.inbox import first_hand_on
from tasks.kinds import KINDS
from tasks.run_spec import RunInput, RunSpec
from tasks.typed import TypedSpec
from workers.app import app
from workers.contract import RUN_TASK
from workers.errors import TaskInputError
from workers.execution.runner import execute


def keywords_only(task: str, args: tuple[Any, ...], names: Iterable[str]) -> None:
    """Refuse positional arguments by name (instead of Celery's bare `TypeError`); their
    values are not echoed (a prompt may be private)."""
    if args:
        raise TaskInputError(
            f"{task} takes keyword arguments only: got {len(args)} positional "
            f"argument{'s' if len(args) > 1 else ''}; send each by name, e.g. "
            f"send_task('{task}', kwargs={{...}}), with the keys: {', '.join(names)}"
        )


@app.task(base=LLMTask, bind=True, name=RUN_TASK, spec=RunSpec())
def run(self: LLMTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run `prompt` (or `messages`) on the model that `model_key` routes to."""
    keywords_only(self.name, args, RunInput.model_fields)
    return execute(self, self.spec, kwargs)


def _typed(spec: TypedSpec) -> LLMTask:
    def work(self: LLMTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        keywords_only(self.name, args, spec.input_model.model_fields)
        token = kwargs.get("hand_on")
        if isinstance(token, str) and not first_hand_on(str(self.request.id), token):
            # another delivery of the cron run handed these items on first: this one is
            # the repeat (no result: the task id's result is the first one's)
            raise Ignore()
        return execute(self, self.spec, kwargs)

    work.__name__ = spec.model_key
    work.__doc__ = spec.instruction
    task: LLMTask = app.task(base=LLMTask, bind=True, name=spec.name, spec=spec)(work)
    return task


TYPED: dict[str, LLMTask] = {spec.model_key: _typed(spec) for spec in KINDS}

from tasks import batches, crons, replay, trials  # noqa: E402,F401  (crons, llm.trial, llm.replay, batches)
