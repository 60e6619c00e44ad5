"""Redis stopped while provider calls are in flight: the calls that answer meanwhile are
settled once Redis is back, and their tasks succeed (workers/execution/accounting.py).

Here one Redis server of this test holds what a default deployment keeps in its one Redis:
the broker, the routing config and the ledger. Results go to the shared test Redis, so
that the test reads them whatever the private server does.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from celery import Celery

from routing.config.store import ConfigStore
from routing.keys import candidate_days
from routing.spend.ledger import Ledger
from tests.support.celery import Session, WorkerProcess
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.redis import delete_matching
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_until

HAIKU = DESIGN_ROUTES["monitoring"][0]
QUEUES = ["llm.haiku", "celery"]
STALL = 2.0  # seconds each provider call takes: they answer while Redis is down

pytestmark = pytest.mark.one_broker

Stack = tuple[RedisServer, dict[str, str], Celery, str]


@pytest.fixture
def stack(celery: Session, redis_servers: Callable[..., RedisServer]) -> Iterator[Stack]:
    """A Redis server with AOF holding broker, config and ledger; worker environment, a
    producer on it, and the namespace."""
    from routing.config.defaults import default_config
    from workers.celery_config import celery_config
    from workers.settings import get_settings

    server = redis_servers(appendonly=True)
    namespace = f"llmr-outage-{uuid.uuid4().hex[:8]}"
    prefix = f"{celery.namespace}:outage-{uuid.uuid4().hex[:6]}:"
    shared = celery.env["LLM_ROUTER_REDIS_URL"]
    env = {**celery.env, "LLM_ROUTER_REDIS_URL": server.url(),
           "LLM_ROUTER_BROKER_URL": server.url(), "LLM_ROUTER_RESULT_BACKEND": shared,
           "LLM_ROUTER_NAMESPACE": namespace, "LLM_ROUTER_BROKER_PREFIX": prefix,
           "LLM_ROUTER_REQUEST_TIMEOUT": "60"}
    ConfigStore.from_url(server.url(), namespace).init(author="tests")
    settings = get_settings().model_copy(
        update={"broker_url": server.url(), "broker_prefix": prefix})
    producer = Celery("producer")
    producer.conf.update(celery_config(settings, default_config()))
    yield server, env, producer, namespace
    producer.close()
    delete_matching(shared, f"{prefix}*")


def runs(llm: LLMServer, marker: str) -> int:
    return sum(marker in json.dumps(r.body) for r in llm.requests)


@pytest.mark.parametrize(("outage", "tasks"), [
    (5, 6),
    pytest.param(60, 3, marks=pytest.mark.slow),
])
def test_calls_answered_while_redis_is_down_are_settled_once_it_is_back(
    stack: Stack, llm_server: LLMServer, worker_processes: list[WorkerProcess],
    outage: float, tasks: int,
) -> None:
    server, env, producer, namespace = stack
    proc = WorkerProcess(env, QUEUES, "outage", concurrency=8)
    worker_processes.append(proc)
    proc.wait_ready()
    # Given tasks whose provider calls are in flight
    llm_server.stall(STALL, times=tasks, model=HAIKU)
    markers = [f"outage-{outage:g}-{i}-{uuid.uuid4().hex[:6]}" for i in range(tasks)]
    sent = [producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                  "prompt": f"task {m}"}) for m in markers]
    wait_until(lambda: all(runs(llm_server, m) for m in markers), timeout=30,
               what=f"{tasks} calls in flight")
    # When Redis stops for `outage` seconds, and the calls answer meanwhile (STALL after
    # they were made)
    server.shutdown()
    threading.Event().wait(outage)
    server.start()
    # Then every task succeeds, each call was made once and is in the ledger once
    for result in sent:
        assert result.get(timeout=120)["model"] == HAIKU
    assert proc.output().count("cannot be settled yet") == tasks  # (they did answer)
    assert [runs(llm_server, m) for m in markers] == [1] * tasks
    client = server.client()
    ledger = Ledger(client, namespace)
    rows = Counter(r["task_id"] for day in candidate_days() for r in ledger.calls(day))
    client.close()
    assert {r.id: rows[r.id] for r in sent} == {r.id: 1 for r in sent}
    assert proc.proc.poll() is None, proc.output()[-3000:]
