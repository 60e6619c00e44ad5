"""The Celery task class of every LLM task: thin, the work spec says what it asks."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from tasks.samples import record_sample
from tasks.trials import sample_trials
from workers.contract import WorkSpec
from workers.errors import TaskError

log = logging.getLogger(__name__)


class LLMTask(Task):  # type: ignore[type-arg]
    """Set `spec`; the send-time router puts each call on its tier's queue (from the task
    name and kwargs, see `workers.contract.send_facts`), and execution runs it."""

    spec: WorkSpec
    acks_late = True
    reject_on_worker_lost = True
    # Celery's own retry machinery is not used: execution re-publishes its hops.
    max_retries = None
    # Expected failures (bad input, a budget refusal, a provider's refusal, every model
    # failing, invalid output with no escalation left): the worker logs each as one line
    # at INFO, without a traceback. Anything else is a bug and keeps its traceback.
    throws = (TaskError,)

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        """After the result is stored: sample the key's shadow trials and record its
        sample (never the caller's concern: a failure here is logged and the task stays a
        success)."""
        if not isinstance(retval, dict):
            return
        try:
            sample_trials(self.name, task_id, dict(kwargs or {}), retval)
        except Exception:
            log.exception("task %s: sampling its shadow trials failed", task_id)
        try:
            record_sample(self.name, task_id, dict(kwargs or {}), retval)
        except Exception:
            log.exception("task %s: recording its sample failed", task_id)
