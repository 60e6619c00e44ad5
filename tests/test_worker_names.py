"""Two `llm-router worker --tier haiku` on one host, on Redis and on RabbitMQ: each gets a
node name of its own (they used to share `haiku@host`: on RabbitMQ the second died at start
on the first's exclusive pidbox queue and the tier ran one worker short), both answer a
ping, and when one is SIGKILLed under load its task moves to its sibling."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult

from routing.config.defaults import default_config
from tests.support.broker import BrokerPlaces
from tests.support.celery import Session, WorkerProcess
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers import nodenames
from workers.celery_config import celery_config
from workers.settings import Settings

pytestmark = pytest.mark.one_broker

HAIKU = DESIGN_ROUTES["monitoring"][0]
READY = re.compile(r"(\S+@\S+) ready\.")


@pytest.fixture(params=["redis", "amqp"])
def place(request: pytest.FixtureRequest, celery: Session,
          own_broker: Callable[[], dict[str, str]]) -> Iterator[dict[str, str]]:
    if request.param == "redis":
        env = own_broker()
        env.pop("LLM_ROUTER_BROKER_URL", None)  # the Redis of the test session
        yield env
        return
    places = BrokerPlaces("amqp", celery.env["LLM_ROUTER_REDIS_URL"])
    env = {**celery.env, **places.place(f"{celery.namespace}:nn-{uuid.uuid4().hex[:6]}:")}
    yield env
    places.drop(env)


def _node(worker: WorkerProcess) -> str:
    found = READY.search(worker.output())
    assert found, worker.output()[-3000:]
    return found.group(1)


def test_two_same_tier_workers_on_one_host_both_serve_and_one_killed_hands_over(
    place: dict[str, str], llm_server: LLMServer, worker_processes: list[WorkerProcess]
) -> None:
    env = {**place, "LLM_ROUTER_REQUEST_TIMEOUT": "120"}
    producer = Celery("producer")
    producer.conf.update(celery_config(Settings(**env), default_config()))
    try:
        # Given two Haiku workers started the same way on this host, no name given
        command = ["-m", "cli", "worker", "--tier", "haiku", "--concurrency", "1",
                   "--loglevel", "INFO"]
        first = WorkerProcess(env, [], "first", command=command)
        worker_processes.append(first)
        first.wait_ready(60)
        second = WorkerProcess(env, [], "second", command=command)
        worker_processes.append(second)
        second.wait_ready(60)
        # Then each has a name of its own, and both answer
        names = {_node(first), _node(second)}
        assert len(names) == 2, names
        replies = wait_until(
            lambda: {n for r in producer.control.ping(timeout=1.0) or [] for n in r} >= names,
            timeout=30, what=f"pings from {names}")
        assert replies

        # When a task's call hangs on one of them, more work arrives...
        llm_server.stall(120, times=1, model=HAIKU)
        held = producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                     "prompt": "held"})
        wait_until(lambda: llm_server.requests_for(HAIKU), timeout=30, what="the held call")
        doomed, survivor = ((first, second) if f"[{held.id}] received" in first.output()
                            else (second, first))
        load = [producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                      "prompt": f"load {i}"})
                for i in range(10)]
        # ...and that worker is SIGKILLed
        doomed.kill()
        # Then the sibling runs the load and the killed worker's task
        for sent in load:
            assert AsyncResult(sent.id, app=producer).get(timeout=60)["model"] == HAIKU
        out: dict[str, Any] = AsyncResult(held.id, app=producer).get(timeout=90)
        assert out["model"] == HAIKU
        # (the result is stored before the worker logs the success line)
        wait_until(lambda: f"llm.run[{held.id}] succeeded" in survivor.output(), timeout=30,
                   what="the survivor's success line for the held task")
    finally:
        producer.close()


def test_two_plain_celery_workers_of_a_tier_on_one_host_get_names_of_their_own(
    place: dict[str, str], worker_processes: list[WorkerProcess]
) -> None:
    producer = Celery("producer")
    producer.conf.update(celery_config(Settings(**place), default_config()))
    try:
        # Given two workers started the way every Celery user does, no -n given
        command = ["-m", "celery", "-A", "workers.app", "worker", "-Q", "llm.haiku",
                   "--pool", "threads", "--concurrency", "1", "--loglevel", "INFO"]
        first = WorkerProcess(place, [], "first", command=command)
        worker_processes.append(first)
        first.wait_ready(60)
        second = WorkerProcess(place, [], "second", command=command)
        worker_processes.append(second)
        second.wait_ready(60)
        # Then they are haiku@host and haiku-2@host (not both celery@host), both alive
        host = socket.gethostname()
        names = {_node(first), _node(second)}
        assert names == {f"haiku@{host}", f"haiku-2@{host}"}, names
        wait_until(
            lambda: {n for r in producer.control.ping(timeout=1.0) or [] for n in r} >= names,
            timeout=30, what=f"pings from {names}")
        assert first.proc.poll() is None and second.proc.poll() is None
    finally:
        producer.close()


def test_the_first_name_is_the_tiers_at_the_host_per_broker_and_a_freed_one_is_taken_again(
    tmp_path: Path,
) -> None:
    broker = "amqp://u:secret@rabbitmq:5672/v|"
    one = nodenames.claim("haiku", broker, "h", tmp_path)
    two = nodenames.claim("haiku", broker, "h", tmp_path)
    other_tier = nodenames.claim("opus", broker, "h", tmp_path)
    other_broker = nodenames.claim("haiku", "redis://r:6379/0|", "h", tmp_path)
    assert (one.name, two.name, other_tier.name, other_broker.name) == (
        "haiku@h", "haiku-2@h", "opus@h", "haiku@h")
    one.release()  # (as when its process ends, however it ends)
    again = nodenames.claim("haiku", broker, "h", tmp_path)
    assert again.name == "haiku@h"
    for node in (two, other_tier, other_broker, again):
        node.release()
    assert not [p for p in tmp_path.iterdir() if "secret" in p.name]


@pytest.mark.parametrize(("args", "given"), [
    (["--loglevel", "INFO"], False), (["-n", "x@h"], True), (["--hostname", "x@h"], True),
    (["--hostname=x@h"], True), (["-nx@h"], True), (["--concurrency", "2"], False),
])
def test_a_name_given_on_the_command_line_is_kept(args: list[str], given: bool) -> None:
    assert nodenames.given_hostname(args) is given


@pytest.mark.parametrize(("queues", "name"), [
    ("llm.haiku", "haiku"), (["llm.opus", "celery"], "opus"), (None, "celery"), ("", "celery"),
    ("jobs", "jobs"), ("a b@c", "a_b_c"),
])
def test_a_plain_workers_name_comes_from_its_first_queue(queues: Any, name: str) -> None:
    assert nodenames.name_for_queues(queues) == name
