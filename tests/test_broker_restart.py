"""A Redis restart under load (workers/broker): busy workers keep consuming, and the tasks
they were running complete once, whether Redis comes back with its AOF or empty.

The broker is a Redis server of this test (restarted at will); the routing config, the
ledger and the results stay on the shared test Redis.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery

from tests.support.celery import Session, WorkerProcess
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.redis import delete_matching
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_until

HAIKU = DESIGN_ROUTES["monitoring"][0]
IN_FLIGHT = 6   # over two workers of 4 threads: both busy
AFTER = 8       # each worker holds 4 at most: both take some
QUEUES = ["llm.haiku", "celery"]

pytestmark = pytest.mark.one_broker


def runs(llm: LLMServer, marker: str) -> int:
    """How many provider calls carried `marker` in their prompt (one per execution)."""
    return sum(marker in json.dumps(r.body) for r in llm.requests)


def _ran_any(proc: WorkerProcess, sent: list[Any]) -> bool:
    """Whether `proc` logged the success of any of the `sent` tasks."""
    return any(f"llm.run[{r.id}] succeeded" in proc.output() for r in sent)


def all_ran(llm: LLMServer, markers: list[str]) -> Callable[[], bool]:
    return lambda: all(runs(llm, m) for m in markers)


def connected(proc: WorkerProcess, times: int) -> Callable[[], bool]:
    """Whether the worker's log says it connected to the broker `times` times (fails at
    once, with its log, if it exited)."""
    def check() -> bool:
        if proc.proc.poll() is not None:
            raise AssertionError(f"{proc.name} exited ({proc.proc.returncode}):\n"
                                 f"{proc.output()[-3000:]}")
        return proc.output().count("] Connected to ") == times
    return check


@pytest.fixture
def broker(celery: Session, redis_servers: Callable[..., RedisServer]
           ) -> Iterator[tuple[RedisServer, dict[str, str], Celery]]:
    """A Redis server with AOF as the broker, worker environment and a producer on it."""
    from routing.config.defaults import default_config
    from workers.celery_config import celery_config
    from workers.settings import get_settings

    server = redis_servers(appendonly=True)
    prefix = f"{celery.namespace}:restart-{uuid.uuid4().hex[:6]}:"
    env = {**celery.env, "LLM_ROUTER_BROKER_URL": server.url(),
           "LLM_ROUTER_RESULT_BACKEND": celery.env["LLM_ROUTER_REDIS_URL"],
           "LLM_ROUTER_BROKER_PREFIX": prefix, "LLM_ROUTER_REQUEST_TIMEOUT": "60"}
    settings = get_settings().model_copy(
        update={"broker_url": server.url(), "broker_prefix": prefix})
    producer = Celery("producer")
    producer.conf.update(celery_config(settings, default_config()))
    yield server, env, producer
    producer.close()
    delete_matching(celery.env["LLM_ROUTER_REDIS_URL"], f"{prefix}*")


def test_busy_workers_survive_redis_restarts_with_and_without_data(
    broker: tuple[RedisServer, dict[str, str], Celery],
    llm_server: LLMServer,
    worker_processes: list[WorkerProcess],
) -> None:
    server, env, producer = broker
    procs = [WorkerProcess(env, QUEUES, f"busy{i}") for i in range(2)]
    worker_processes.extend(procs)
    for proc in procs:
        proc.wait_ready()

    def send(marker: str) -> Any:
        return producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                     "prompt": f"task {marker}"})

    for round_, (data, empty) in enumerate((("AOF", False), ("empty", True)), start=1):
        # Given two workers running tasks (each provider call answers after 4 s)
        llm_server.stall(4, times=IN_FLIGHT, model=HAIKU)
        markers = [f"{data}-in-flight-{i}-{uuid.uuid4().hex[:6]}" for i in range(IN_FLIGHT)]
        running = [send(m) for m in markers]
        wait_until(all_ran(llm_server, markers), timeout=30, what=f"{IN_FLIGHT} tasks running")
        # When Redis stops at once and starts again, with its AOF or without data
        server.shutdown()
        server.start(empty=empty)
        # Then the running tasks complete, and each ran once
        for result in running:
            assert result.get(timeout=60)["model"] == HAIKU
        assert [runs(llm_server, m) for m in markers] == [1] * IN_FLIGHT
        # ...and every worker is still there, connected again, and takes new tasks
        for proc in procs:
            wait_until(connected(proc, round_ + 1), timeout=40,
                       what=f"{proc.name} connected again after the {data} restart")
        llm_server.stall(1, times=AFTER, model=HAIKU)
        after = [send(f"{data}-after-{i}") for i in range(AFTER)]
        for result in after:
            assert result.get(timeout=60)["model"] == HAIKU
        for proc in procs:
            assert proc.proc.poll() is None, proc.output()[-3000:]
            # (a result is stored before the worker logs its success line)
            wait_until(functools.partial(_ran_any, proc, after),
                       timeout=30, what=f"{proc.name} taking a task after the {data} restart")
    for proc in procs:
        assert "Unrecoverable error" not in proc.output()
