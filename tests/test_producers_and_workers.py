"""Foreign producers, subprocess workers, a live change reaching them, and a killed worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from celery import Celery
from celery.result import AsyncResult

from tests.support.celery import ROOT, Session, WorkerProcess, foreign_app
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.settings import Settings


def test_foreign_producer_gets_its_task_run_on_the_right_tier(
    worker: Session, llm_server: LLMServer
) -> None:
    app = foreign_app(worker.env)
    try:
        # When a foreign app sends llm.run by name, naming no queue
        sent = app.send_task("llm.run", kwargs={"model_key": "code_review", "prompt": "diff"})
        out = AsyncResult(sent.id, app=app).get(timeout=30)
    finally:
        app.close()
    # Then it ran on the Sonnet tier's queue and model, under the same task id
    assert (out["model"], out["queue"]) == DESIGN_ROUTES["code_review"]
    assert out["task_id"] == sent.id
    assert [r.model for r in llm_server.requests] == [DESIGN_ROUTES["code_review"][0]]


@pytest.fixture
def isolated(
    own_broker: Callable[[], dict[str, str]],
) -> Iterator[tuple[dict[str, str], Celery]]:
    """An environment with a broker of its own, so only subprocess workers see it, and a
    foreign producer on it."""
    env = own_broker()
    app = foreign_app(env)
    yield env, app
    app.close()


def test_live_config_set_reaches_a_running_worker_process(
    isolated: tuple[dict[str, str], Celery],
    llm_server: LLMServer,
    worker_processes: list[WorkerProcess],
) -> None:
    env, app = isolated
    proc = WorkerProcess(env, ["llm.haiku", "llm.sonnet", "celery"], "all")
    worker_processes.append(proc)
    proc.wait_ready()
    first = app.send_task("llm.run", kwargs={"model_key": "lookup", "prompt": "a"}).get(30)
    assert (first["model"], first["queue"]) == DESIGN_ROUTES["lookup"]
    # When an operator changes the route with the CLI, in another process
    done = subprocess.run(
        [sys.executable, "-m", "cli", "config", "set", "lookup", "claude-sonnet-4-5"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    version = first["config_version"] + 1
    # Then the running worker routes the next task to the new model, without a restart
    def routed() -> dict[str, object] | None:
        out: dict[str, object] = app.send_task(
            "llm.run", kwargs={"model_key": "lookup", "prompt": "b"}
        ).get(30)
        return out if out["config_version"] == version else None

    after = wait_until(routed, timeout=5, interval=0.1)
    assert (after["model"], after["queue"]) == ("claude-sonnet-4-5", "llm.sonnet")


@pytest.mark.one_broker  # the Redis transport's leases (RabbitMQ's: tests/test_rabbitmq.py)
def test_task_of_a_killed_worker_completes_on_another(
    isolated: tuple[dict[str, str], Celery],
    llm_server: LLMServer,
    worker_processes: list[WorkerProcess],
) -> None:
    env, app = isolated
    # The shipped visibility timeout (derived: 11 minutes) and lease (20 s); provider calls
    # may take a minute here
    env = {**env, "LLM_ROUTER_REQUEST_TIMEOUT": "60"}
    lease = Settings().broker_lease_seconds
    haiku, sonnet = DESIGN_ROUTES["monitoring"][0], DESIGN_ROUTES["code_review"][0]
    first = WorkerProcess(env, ["llm.haiku", "celery"], "doomed")
    long_runner = WorkerProcess(env, ["llm.sonnet"], "long-runner")
    worker_processes.extend([first, long_runner])
    first.wait_ready()
    long_runner.wait_ready()
    # Given a Haiku task whose provider call hangs, and a Sonnet task on another worker that
    # runs longer than a lease
    llm_server.stall(60, times=1, model=haiku)
    llm_server.stall(lease + 6, times=1, model=sonnet)
    sent = app.send_task("llm.run", kwargs={"model_key": "monitoring", "prompt": "p"})
    long = app.send_task("llm.run", kwargs={"model_key": "code_review", "prompt": "long"})
    wait_until(lambda: llm_server.requests_for(haiku) and llm_server.requests_for(sonnet),
               timeout=30, what="both provider calls in flight")
    # When the first worker is SIGKILLed while its provider call is in flight
    first.kill()
    killed_at = time.monotonic()
    second = WorkerProcess(env, ["llm.haiku", "celery"], "survivor")
    worker_processes.append(second)
    second.wait_ready()
    # Then the task runs again within 30 s of the kill (its worker's lease expired), not
    # after the visibility timeout, and completes on the other worker under the same id
    rerun = wait_until(lambda: llm_server.requests_for(haiku)[1:], timeout=40,
                       what="the killed worker's task running again")[0]
    print(f"\nthe SIGKILLed worker's task ran again {rerun.time - killed_at:.1f} s after")
    out = AsyncResult(sent.id, app=app).get(timeout=60)
    assert out["model"] == haiku and out["task_id"] == sent.id
    assert len(llm_server.requests_for(haiku)) == 2
    # ...and it was the survivor that ran it to the end
    wait_until(lambda: f"llm.run[{sent.id}] succeeded" in second.output(), timeout=10,
               what="the survivor's log of the task's success")
    assert f"llm.run[{sent.id}] succeeded" not in first.output()
    # ...while the live worker's task, longer than a lease, ran once: never redelivered
    assert AsyncResult(long.id, app=app).get(timeout=60)["model"] == sonnet
    assert len(llm_server.requests_for(sonnet)) == 1


def test_a_worker_without_its_tiers_key_refuses_to_start(
    isolated: tuple[dict[str, str], Celery], worker_processes: list[WorkerProcess]
) -> None:
    env, _ = isolated
    # Given a Haiku-tier worker, live, with no ANTHROPIC_API_KEY (empty means unset)
    proc = WorkerProcess(env, ["llm.haiku"], "keyless", extra_env={"ANTHROPIC_API_KEY": ""})
    worker_processes.append(proc)
    # Then it exits non-zero, naming the variable, before taking any task
    code = proc.proc.wait(timeout=60)
    assert code != 0, proc.output()[-2000:]
    wait_until(lambda: "ANTHROPIC_API_KEY" in proc.output(), timeout=5,
               what="the worker's log naming the variable")
    assert " ready." not in proc.output()
    # while a worker of another tier, whose providers have keys, starts
    other = WorkerProcess(env, ["llm.kimi"], "kimi", extra_env={"ANTHROPIC_API_KEY": ""})
    worker_processes.append(other)
    other.wait_ready()
