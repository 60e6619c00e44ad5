"""The Celery task class of every LLM task: thin, the work spec says what it asks."""

from __future__ import annotations

from celery import Task

from workers.contract import WorkSpec
from workers.errors import TaskError


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
