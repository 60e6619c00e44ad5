"""A half-open connection between a worker and RabbitMQ (the worker's host gone, a network
partition: neither end is told) is noticed by RabbitMQ within a few AMQP heartbeats, and the
worker's unacknowledged task goes to a sibling. A TCP proxy between the worker and RabbitMQ
is blackholed; the sibling talks to RabbitMQ directly. On the RabbitMQ at 127.0.0.1:5672, in
a vhost of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult

from routing.config.defaults import default_config
from tests.support.broker import AMQP_HOST, AMQP_PORT, BrokerPlaces
from tests.support.celery import ROOT, Session, WorkerProcess
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import wait_until
from workers.celery_config import AMQP_HEARTBEAT_SECONDS, celery_config
from workers.settings import Settings

pytestmark = pytest.mark.one_broker

HAIKU = DESIGN_ROUTES["monitoring"][0]
LOST = "Connection to broker lost"  # the worker's warning
# RabbitMQ gives up after two heartbeats without a byte; one more for a loaded machine
# (with RabbitMQ's 60 s, or Celery's 120 s, it took minutes).
NOTICED_WITHIN = 4 * AMQP_HEARTBEAT_SECONDS


@pytest.fixture
def place(celery: Session) -> Iterator[dict[str, str]]:
    places = BrokerPlaces("amqp", celery.env["LLM_ROUTER_REDIS_URL"])
    env = {**celery.env, **places.place(f"{celery.namespace}:hb-{uuid.uuid4().hex[:6]}:")}
    yield env
    places.drop(env)


def test_a_half_open_connection_is_noticed_by_rabbitmq_within_a_few_heartbeats(
    place: dict[str, str], llm_server: LLMServer, worker_processes: list[WorkerProcess]
) -> None:
    env = {**place, "LLM_ROUTER_REQUEST_TIMEOUT": "120"}
    vhost = env["LLM_ROUTER_BROKER_URL"].rsplit("/", 1)[1]
    proxy = TcpProxy((AMQP_HOST, AMQP_PORT)).start()
    producer = Celery("producer")
    producer.conf.update(celery_config(Settings(**env), default_config()))
    doomed: WorkerProcess | None = None
    try:
        # Given a Haiku worker connected through the proxy, which runs tasks as usual...
        doomed = WorkerProcess({**env, "LLM_ROUTER_BROKER_URL":
                                f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}"},
                               ["llm.haiku", "celery"], "doomed")
        worker_processes.append(doomed)
        doomed.wait_ready()
        done = [producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                      "prompt": f"p{i}"}) for i in range(8)]
        for sent in done:
            assert AsyncResult(sent.id, app=producer).get(timeout=60)["model"] == HAIKU
        # ...and is now in the middle of a provider call that hangs
        llm_server.stall(120, times=1, model=HAIKU)
        calls = len(llm_server.requests_for(HAIKU))
        sent = producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                     "prompt": "held"})
        wait_until(lambda: len(llm_server.requests_for(HAIKU)) > calls, timeout=30,
                   what="the call in flight")
        survivor = WorkerProcess(env, ["llm.haiku", "celery"], "survivor")
        worker_processes.append(survivor)
        survivor.wait_ready()
        # (no false alarm while the connection was healthy and busy)
        assert LOST not in doomed.output(), doomed.output()[-3000:]

        # When the connection goes silent, both ways, with neither end told
        proxy.blackhole()
        silent_at = time.monotonic()

        # Then RabbitMQ gives the held task to the sibling within a few heartbeats
        rerun = wait_until(lambda: llm_server.requests_for(HAIKU)[calls + 1:],
                           timeout=NOTICED_WITHIN, what="the held task running again")[0]
        print(f"\nheartbeat {AMQP_HEARTBEAT_SECONDS} s: the task ran again "
              f"{rerun.time - silent_at:.1f} s after the connection went silent")
        out: dict[str, Any] = AsyncResult(sent.id, app=producer).get(timeout=30)
        assert out["model"] == HAIKU
    finally:
        # the doomed worker's host is gone: it is killed, not asked for a warm shutdown
        # (which would wait out its stalled call behind a silent connection)
        if doomed is not None:
            doomed.kill()
        proxy.cut()
        producer.close()


def test_workers_propose_the_documented_heartbeat_on_rabbitmq(place: dict[str, str]) -> None:
    # The value the worker's config carries on an AMQP broker is the one the reliability
    # page documents (and the one the dropped-connection test above waits on).
    conf = celery_config(Settings(**place), default_config())
    assert conf["broker_heartbeat"] == AMQP_HEARTBEAT_SECONDS
    page = (ROOT / "docs" / "reliability.md").read_text()
    assert f"workers set to {AMQP_HEARTBEAT_SECONDS} s" in " ".join(page.split())
