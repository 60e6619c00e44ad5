"""What a worker logs when a task fails: an expected, named error (bad input, a budget
refusal, ...) is one line without a traceback; a genuine bug keeps its traceback.

A real subprocess worker (`celery -A workers.app worker`, INFO), real tasks sent by name.
"""

from __future__ import annotations

import pytest
from celery import Celery

from tests.support.celery import WorkerProcess
from tests.support.faulty_tasks import BUG_TASK
from tests.support.wait import wait_until

BAD_INPUTS = [
    # (task, kwargs, what the error says)
    ("llm.run", {"model_key": "lookup", "prompt": ""}, "prompt"),  # routed, refused there
    ("llm.run", {"model_key": "no_such_key", "prompt": "q"}, "unknown model key"),  # unrouted
    ("tasks.classification", {"text": "x", "labels": ["only"]}, "labels"),
]


def _lines(worker: WorkerProcess, task_id: str) -> list[str]:
    return [line for line in worker.output().splitlines() if task_id in line]


def test_bad_input_is_one_log_line_and_a_bug_keeps_its_traceback(
    isolated_producer: tuple[dict[str, str], Celery], worker_processes: list[WorkerProcess]
) -> None:
    env, producer = isolated_producer
    worker = WorkerProcess(env, ["llm.haiku", "celery"], "logs",
                           extra_args=["--include", "tests.support.faulty_tasks"])
    worker_processes.append(worker)
    worker.wait_ready()

    # When tasks with bad input are sent by name
    for name, kwargs, says in BAD_INPUTS:
        sent = producer.send_task(name, kwargs=kwargs)
        with pytest.raises(Exception, match=says):
            sent.get(timeout=30)
        # Then the worker logs the failure as one line naming the error, no traceback
        failed = wait_until(
            lambda sent=sent: [x for x in _lines(worker, sent.id) if "raised" in x],
            timeout=10, what=f"the worker's log line for {name}")
        assert len(failed) == 1, failed
        assert "raised expected: TaskInputError" in failed[0] and says in failed[0]
        assert [x for x in _lines(worker, sent.id) if x not in failed] == [
            x for x in _lines(worker, sent.id) if "received" in x]
    assert "Traceback" not in worker.output(), worker.output()[-3000:]

    # When a task fails with an exception nobody expected (a bug)
    bug = producer.send_task(BUG_TASK)
    with pytest.raises(RuntimeError, match="genuine bug"):
        bug.get(timeout=30)
    # Then its traceback is in the log, as an error
    wait_until(lambda: "raise RuntimeError" in worker.output(), timeout=10,
               what="the bug's traceback in the worker's log")
    out = worker.output()
    assert f"{BUG_TASK}[{bug.id}] raised unexpected: RuntimeError" in out
    assert "Traceback (most recent call last)" in out


def test_simulated_error_rates_naming_no_model_are_warned_of_at_start(
    isolated_producer: tuple[dict[str, str], Celery], worker_processes: list[WorkerProcess]
) -> None:
    env, _ = isolated_producer
    # Given error rates naming a model the config does not have, and a known one
    worker = WorkerProcess(env, ["llm.haiku"], "rates", extra_env={
        "LLM_ROUTER_PROVIDER_MODE": "simulated",
        "LLM_ROUTER_SIMULATED_ERROR_RATES": "nosuchmodel=0.1,kimi-for-coding=0.02"})
    worker_processes.append(worker)
    worker.wait_ready()
    # Then the worker says so when it starts, naming the models it knows
    (line,) = [x for x in worker.output().splitlines() if "SIMULATED_ERROR_RATES" in x]
    assert "WARNING" in line and "'nosuchmodel' is no model of the routing config" in line
    assert "kimi-for-coding" in line.split("models: ")[1]
