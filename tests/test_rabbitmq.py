"""RabbitMQ as the broker (LLM_ROUTER_BROKER_URL=amqp://...), what is its own: quorum tier
queues, a left-over classic queue refused at start, a SIGKILLed worker's task redelivered
at once, countdowns in whole seconds, queue depths. On the RabbitMQ at 127.0.0.1:5672
whatever LLM_ROUTER_TEST_BROKER says, in a vhost per test (deleted afterwards); the routing
config, ledger and results stay in the test Redis. The task-layer tests also run on
RabbitMQ, in scripts/test.sh's second pass.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult
from kombu import Connection, Exchange, Queue

from routing.config.defaults import default_config
from tests.support.broker import BrokerPlaces, rabbitmqctl
from tests.support.celery import Session, WorkerProcess
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.celery_config import celery_config
from workers.execution.runner import countdown_of
from workers.metrics.amqp_depth import AmqpAddress, AmqpQueueDepths
from workers.metrics.source import RedisMetricsSource
from workers.settings import Settings

pytestmark = pytest.mark.one_broker

HAIKU = DESIGN_ROUTES["monitoring"][0]
TIER_QUEUES = sorted({tier.queue for tier in default_config().tiers.values()})


@dataclass
class Rabbit:
    env: dict[str, str]  # a worker's environment on this vhost
    producer: Celery  # routes at send time, as the project's producers do
    vhost: str

    @property
    def url(self) -> str:
        return self.env["LLM_ROUTER_BROKER_URL"]

    def queues(self) -> dict[str, dict[str, Any]]:
        out = rabbitmqctl("list_queues", "-p", self.vhost, "name", "type", "durable",
                          "arguments", "messages", "--formatter", "json")
        return {q["name"]: q for q in json.loads(out)}


@pytest.fixture
def rabbit(celery: Session) -> Iterator[Rabbit]:
    places = BrokerPlaces("amqp", celery.env["LLM_ROUTER_REDIS_URL"])
    place = places.place(f"{celery.namespace}:rmq-{uuid.uuid4().hex[:6]}:")
    env = {**celery.env, **place}
    producer = Celery("producer")
    producer.conf.update(celery_config(Settings(**env), default_config()))
    yield Rabbit(env, producer, place["LLM_ROUTER_BROKER_URL"].rsplit("/", 1)[1])
    producer.close()
    places.drop(place)


def test_a_worker_declares_every_tier_queue_as_a_quorum_queue_and_runs_what_is_routed(
    rabbit: Rabbit, llm_server: LLMServer, worker_processes: list[WorkerProcess]
) -> None:
    # Given a Haiku worker (with the default queue) on a fresh vhost
    proc = WorkerProcess(rabbit.env, ["llm.haiku", "celery"], "haiku")
    worker_processes.append(proc)
    proc.wait_ready()
    # Then every tier queue, consumed or not, is a durable quorum queue on the tiers'
    # topic exchange; the default queue stays classic (foreign producers declare it so)
    queues = rabbit.queues()
    for name in TIER_QUEUES:
        assert (queues[name]["type"], queues[name]["durable"]) == ("quorum", True), name
    assert queues["celery"]["type"] == "classic"
    bindings = rabbitmqctl("list_bindings", "-p", rabbit.vhost, "source_name",
                           "destination_name", "routing_key", "--formatter", "json")
    bound = {(b["source_name"], b["destination_name"], b["routing_key"])
             for b in json.loads(bindings)}
    assert {("llm.tiers", q, q) for q in TIER_QUEUES} <= bound
    # ...and countdowns can reach each of them through the delay exchanges
    assert {("celery_delayed_delivery", "llm.tiers", f"#.{q}") for q in TIER_QUEUES} <= bound
    # When a project producer sends a Haiku key: routed at send time, run on its tier
    out = rabbit.producer.send_task("llm.run", kwargs={"model_key": "lookup", "prompt": "q"}
                                    ).get(timeout=30)
    assert (out["model"], out["queue"]) == DESIGN_ROUTES["lookup"]


def test_a_left_over_classic_tier_queue_is_refused_at_start_naming_it_and_the_fix(
    rabbit: Rabbit, worker_processes: list[WorkerProcess]
) -> None:
    # Given a classic llm.haiku queue holding a message, as an older deployment left it
    old = Queue("llm.haiku", Exchange("llm.haiku", "direct"), routing_key="llm.haiku")
    with Connection(rabbit.url) as conn:
        conn.Producer().publish("old", exchange=old.exchange, routing_key="llm.haiku",
                                declare=[old])
    # When a Haiku worker starts (`llm-router worker --tier haiku`)
    proc = WorkerProcess(rabbit.env, [], "refused", command=["-m", "cli", "worker", "--tier",
                                                             "haiku", "--loglevel", "INFO"])
    worker_processes.append(proc)
    # Then it exits non-zero with one line naming the queue and the fix, no traceback
    assert proc.proc.wait(timeout=60) != 0, proc.output()[-3000:]
    wait_until(lambda: "rabbitmqctl delete_queue" in proc.output(), timeout=5,
               what="the worker's log naming the fix")
    log = proc.output()
    assert f"RabbitMQ queue 'llm.haiku' (vhost '{rabbit.vhost}')" in log
    assert f"rabbitmqctl delete_queue -p {rabbit.vhost} llm.haiku" in log
    assert "Traceback" not in log and "Unrecoverable error" not in log
    assert " ready." not in log
    # ...and left the old queue as it was, message included
    left = rabbit.queues()["llm.haiku"]
    assert (left["type"], left["messages"]) == ("classic", 1)
    # When the operator deletes it as told, the worker starts and declares it anew
    rabbitmqctl("delete_queue", "-p", rabbit.vhost, "llm.haiku")
    again = WorkerProcess(rabbit.env, ["llm.haiku"], "again")
    worker_processes.append(again)
    again.wait_ready()
    assert rabbit.queues()["llm.haiku"]["type"] == "quorum"


def test_a_sigkilled_workers_task_runs_again_at_once_on_another(
    rabbit: Rabbit, llm_server: LLMServer, worker_processes: list[WorkerProcess]
) -> None:
    env = {**rabbit.env, "LLM_ROUTER_REQUEST_TIMEOUT": "60"}
    # Given a Haiku worker running a task whose provider call hangs, and another worker
    doomed = WorkerProcess(env, ["llm.haiku", "celery"], "doomed")
    worker_processes.append(doomed)
    doomed.wait_ready()
    llm_server.stall(60, times=1, model=HAIKU)
    sent = rabbit.producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                        "prompt": "p"})
    wait_until(lambda: llm_server.requests_for(HAIKU), timeout=30, what="the call in flight")
    survivor = WorkerProcess(env, ["llm.haiku", "celery"], "survivor")
    worker_processes.append(survivor)
    survivor.wait_ready()
    # When the first worker is SIGKILLed while its call is in flight
    doomed.kill()
    killed_at = time.monotonic()
    # Then RabbitMQ puts the unacknowledged delivery back as the connection drops: the
    # task runs again on the other worker within seconds (no visibility timeout, no lease)
    rerun = wait_until(lambda: llm_server.requests_for(HAIKU)[1:], timeout=30,
                       what="the killed worker's task running again")[0]
    after = rerun.time - killed_at
    print(f"\nRabbitMQ: the SIGKILLed worker's task ran again {after:.2f} s after the kill")
    out = AsyncResult(sent.id, app=rabbit.producer).get(timeout=30)
    assert (out["model"], out["task_id"], out["queue"]) == (HAIKU, sent.id, "llm.haiku")
    wait_until(lambda: f"llm.run[{sent.id}] succeeded" in survivor.output(), timeout=10,
               what="the survivor's log of the task's success")
    assert len(llm_server.requests_for(HAIKU)) == 2


def test_a_sub_second_retry_after_waits_whole_seconds_never_less(
    rabbit: Rabbit, llm_server: LLMServer, worker_processes: list[WorkerProcess]
) -> None:
    # Given a worker, and a provider that answers 429 with retry-after: 0.3 s once
    proc = WorkerProcess(rabbit.env, ["llm.haiku"], "haiku")
    worker_processes.append(proc)
    proc.wait_ready()
    llm_server.rate_limit(times=1, retry_after=0.3, model=HAIKU)
    # When a task meets it: its retry is a hop with a countdown under a second
    out = rabbit.producer.send_task("llm.run", kwargs={"model_key": "lookup", "prompt": "q"}
                                    ).get(timeout=30)
    # Then the hop went through RabbitMQ's delayed delivery (whole seconds, rounded up: a
    # fraction would have been dropped, to nothing) and the call came no sooner than asked
    first, second = llm_server.requests_for(HAIKU)
    assert second.time - first.time >= 0.3
    assert (out["attempts"], out["queue"]) == (2, "llm.haiku")


def test_retries_fallbacks_and_escalations_travel_between_tier_workers(
    rabbit: Rabbit, llm_server: LLMServer, worker_processes: list[WorkerProcess]
) -> None:
    # Given a Haiku worker and a Sonnet worker, each consuming its own queue only: every
    # hop to the other tier is re-published through RabbitMQ, not run in place
    haiku = WorkerProcess(rabbit.env, ["llm.haiku"], "haiku")
    sonnet = WorkerProcess(rabbit.env, ["llm.sonnet"], "sonnet")
    worker_processes += [haiku, sonnet]
    haiku.wait_ready()
    sonnet.wait_ready()
    fallback = default_config().model_keys["monitoring"].fallbacks[0]
    # When Haiku is overloaded for every attempt of a monitoring task
    llm_server.overloaded(times=3, model=HAIKU)
    sent = rabbit.producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                        "prompt": "m"})
    out = sent.get(timeout=60)
    # Then its retries waited in RabbitMQ (countdowns) and its fallback ran on the Sonnet
    # tier's worker
    assert (out["model"], out["queue"], out["fallback_from"]) == (
        fallback, "llm.sonnet", [HAIKU])
    assert len(llm_server.requests_for(HAIKU)) == 3 and out["attempts"] == 4
    wait_until(lambda: f"llm.run[{sent.id}] succeeded" in sonnet.output(), timeout=10,
               what="the fallback's success in the Sonnet worker's log")
    # When a typed task's Haiku output fails validation (a label that was not offered)
    llm_server.set_reply(json.dumps({"label": "maybe", "confidence": 0.9}), model=HAIKU)
    llm_server.set_reply(json.dumps({"label": "spam", "confidence": 0.9}))
    typed = rabbit.producer.send_task("tasks.classification",
                                      kwargs={"text": "WIN A PRIZE", "labels": ["spam", "ham"]})
    escalated = typed.get(timeout=60)
    # Then it escalated to the Sonnet tier, where the other worker answered
    assert escalated["escalated_from"] == [HAIKU]
    assert (escalated["model"], escalated["queue"]) == DESIGN_ROUTES["orchestration"]
    assert escalated["output"]["label"] == "spam"
    wait_until(lambda: f"tasks.classification[{typed.id}] succeeded" in sonnet.output(),
               timeout=10, what="the escalation's success in the Sonnet worker's log")


@pytest.mark.parametrize(("delay", "amqp", "redis"),
                         [(0.3, 1.0, 0.3), (1.0, 1.0, 1.0), (2.01, 3.0, 2.01)])
def test_countdowns_are_whole_seconds_rounded_up_on_rabbitmq_only(
    delay: float, amqp: float, redis: float
) -> None:
    rabbitmq = Settings(LLM_ROUTER_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
    assert countdown_of(delay, rabbitmq) == amqp
    assert countdown_of(delay, Settings(LLM_ROUTER_BROKER_URL="redis://h:6379/0")) == redis


def test_metrics_count_the_messages_waiting_in_each_tier_queue(rabbit: Rabbit) -> None:
    # Given three Opus tasks sent while no worker consumes (no other queue used yet)
    for i in range(3):
        rabbit.producer.send_task("llm.run", kwargs={"model_key": "strategic_decision",
                                                     "prompt": f"q{i}"})
    # Then the metrics read each tier queue's depth from RabbitMQ (0: not declared yet)
    source = RedisMetricsSource(Settings(**rabbit.env))
    try:
        depths = source.snapshot().queue_depths
    finally:
        source.close()
    assert depths == {name: (spec.queue, 3 if name == "opus" else 0)
                      for name, spec in default_config().tiers.items()}


def test_metrics_name_a_rabbitmq_they_cannot_reach() -> None:
    depths = AmqpQueueDepths("amqp://ops:secret@127.0.0.1:1/prod", timeout=2)
    with pytest.raises(ConnectionError) as info:
        depths.queue_depths(["llm.haiku"])
    assert "RabbitMQ at 127.0.0.1:1 (vhost 'prod', user 'ops')" in str(info.value)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(("url", "address"), [
    ("amqp://guest:guest@127.0.0.1:5672//", ("127.0.0.1:5672", "guest", "/", False)),
    ("amqp://u:p%40ss@rabbit/prod", ("rabbit:5672", "u", "prod", False)),
    ("amqps://u:p@rabbit:5671/a%2Fb;amqps://other//", ("rabbit:5671", "u", "a/b", True)),
    ("pyamqp://rabbit", ("rabbit:5672", "guest", "/", False)),
])
def test_the_metrics_read_a_broker_url_as_kombu_does(
    url: str, address: tuple[str, str, str, bool]
) -> None:
    a = AmqpAddress.from_url(url)
    assert (a.host, a.userid, a.virtual_host, a.ssl) == address
