"""Flower against the real system: a subprocess Flower with basic auth, one real worker per
tier (started like `llm-router worker --tier T`), real `llm.run` tasks against the test LLM
server, all on the test broker in a place of their own (a key prefix on Redis, a vhost on
RabbitMQ).

Checks: every tier queue has its worker in `/api/workers` (inspect replies travel through
that place), a finished task shows its model key, model and cost, nothing is served
without the right credentials, and no provider key appears in anything Flower serves,
logs or persists, although Flower and the workers run with the keys set. On RabbitMQ,
Flower's queue lengths come from the management API (`--broker_api`), which this machine
does not run: its broker page and `/api/queues/length` list no queue there.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import pytest
from celery import Celery

from routing.config.defaults import default_config
from tests.support.broker import TEST_BROKER
from tests.support.celery import Session, foreign_app
from tests.support.flower import TASK_COLUMNS, FlowerProcess, TierWorker
from tests.support.llm_server import REDACTED, SECRET_HEADERS, TEST_KEYS, LLMServer
from tests.support.wait import wait_until
from workers.celery_config import celery_config
from workers.settings import Settings

AUTH = "ops:flower-test-pass"
# A realistic answer, longer than Celery's 1024-character repr of a result in its events.
LONG_REPLY = "A considered answer. " * 120
# Every key, and its random part alone (a key cut short must not show either).
SECRETS = sorted({*TEST_KEYS.values(), *(v.rsplit("-", 1)[1] for v in TEST_KEYS.values())})

T = TypeVar("T")


def tier_model_keys() -> dict[str, str]:
    """One model key per tier, from the shipped config (no model names in the test)."""
    cfg = default_config()
    out: dict[str, str] = {}
    for key, spec in cfg.model_keys.items():
        out.setdefault(cfg.models[spec.model].tier, key)
    assert set(out) == set(cfg.tiers), out
    return out


@dataclass
class Stack:
    env: dict[str, str]
    flower: FlowerProcess
    workers: dict[str, TierWorker]  # tier -> worker
    queues: dict[str, str]  # tier -> queue
    listing: dict[str, Any] = field(default_factory=dict)  # /api/workers?refresh=1
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> result
    foreign_id: str = ""  # sent by name, run in place by the dispatching Haiku worker
    forwarded_id: str = ""  # sent by name, forwarded by it to the Sonnet tier
    attributed_id: str = ""  # sent by name with agent and run as headers

    def json(self, path: str) -> Any:
        status, body = self.flower.get(path)
        assert status == 200, (path, status, body[:500])
        return json.loads(body)


def _listing_with_every_tier(stack: Stack) -> dict[str, Any] | None:
    listing: dict[str, Any] = stack.json("/api/workers?refresh=1")
    for tier, worker in stack.workers.items():
        info = listing.get(worker.hostname) or {}
        queues = {q["name"] for q in info.get("active_queues") or []}
        if stack.queues[tier] not in queues or "conf" not in info or "stats" not in info:
            return None
    return listing


@pytest.fixture(scope="module")
def stack(
    celery_session: Session,
    llm_server_session: LLMServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    celery_session.reset_config()
    llm = llm_server_session
    llm.reset()
    llm.set_reply(LONG_REPLY)
    # Only the processes started here use this broker place (events, inspect, queues).
    place = celery_session.broker.place(
        f"{celery_session.namespace}:flower-{uuid.uuid4().hex[:6]}:")
    env = {**celery_session.env, **place}
    assert all(env[name] == value for name, value in TEST_KEYS.items())  # Flower gets them too
    cfg = default_config()
    queues = {tier: spec.queue for tier, spec in cfg.tiers.items()}
    workers = {tier: TierWorker(env, tier) for tier in cfg.tiers}
    flower = FlowerProcess(env, db=tmp_path_factory.mktemp("flower") / "flower.db",
                           basic_auth=AUTH)
    stack = Stack(env, flower, workers, queues)
    producer = Celery("producer")
    producer.conf.update(celery_config(Settings(**env), cfg))
    foreign = foreign_app(env)
    try:
        for worker in workers.values():
            worker.wait_ready(60)
        flower.wait_ready(60)
        # Flower's event receiver is up once it has seen every worker's heartbeat; only
        # then are task events sure to reach it.
        wait_until(lambda: all(stack.json("/api/workers?status=1").get(w.hostname)
                               for w in workers.values()),
                   timeout=30, what="every worker alive in Flower's events")
        stack.listing = wait_until(lambda: _listing_with_every_tier(stack), timeout=30,
                                   interval=0.5,
                                   what="a worker per tier queue in /api/workers?refresh=1")
        # One task per tier routed at send time (a project producer), and one sent by name
        # by a foreign producer (routed by the dispatching worker).
        keys = tier_model_keys()
        sent = [producer.send_task("llm.run", kwargs={"model_key": key, "prompt": f"{tier} q",
                                                      "max_tokens": 1024})
                for tier, key in keys.items()]
        plain = foreign.send_task("llm.run", kwargs={"model_key": keys["haiku"], "prompt": "p"})
        stack.foreign_id = plain.id
        forwarded = foreign.send_task("llm.run", kwargs={"model_key": keys["sonnet"],
                                                         "prompt": "p"})
        stack.forwarded_id = forwarded.id
        attributed = foreign.send_task(
            "llm.run", kwargs={"model_key": keys["haiku"], "prompt": "a"},
            headers={"llm_agent": "ceo", "llm_run_id": "flower-run-1"})
        stack.attributed_id = attributed.id
        for res in [*sent, plain, forwarded, attributed]:
            stack.results[res.id] = res.get(timeout=45)
        yield stack
    finally:
        # (a test may have restarted Flower: stop the one running now)
        for process in [stack.flower, *workers.values()]:
            process.terminate()
        for process in [stack.flower, *workers.values()]:
            process.stop()
        producer.close()
        foreign.close()
        llm.reset()
        celery_session.broker.drop(place)


def _finished(stack: Stack, task_id: str) -> dict[str, Any] | None:
    info: dict[str, Any] = stack.json(f"/api/task/info/{task_id}")
    return info if info.get("state") == "SUCCESS" and info.get("result") else None


def test_api_workers_lists_the_tier_worker_of_every_tier_queue(stack: Stack) -> None:
    for tier, worker in stack.workers.items():
        # The worker is named after its tier, as `llm-router worker --tier` names it
        assert worker.hostname.startswith(f"{tier}@"), worker.hostname
        info = stack.listing[worker.hostname]
        queues = {q["name"] for q in info["active_queues"]}
        assert stack.queues[tier] in queues, (tier, queues)
        assert "llm.run" in info["registered"]
        # the inspect replies came back through the stack's own broker place
        broker = info["stats"]["broker"]
        if TEST_BROKER == "amqp":
            vhost = urlsplit(stack.env["LLM_ROUTER_BROKER_URL"]).path[1:]
            assert broker["virtual_host"] == vhost
        else:
            prefix = stack.env["LLM_ROUTER_BROKER_PREFIX"]
            assert broker["transport_options"]["global_keyprefix"] == prefix
    # Exactly one worker serves each tier queue
    serving = {
        q["name"]: name for name, info in stack.listing.items()
        for q in info.get("active_queues") or [] if q["name"] in stack.queues.values()
    }
    assert serving == {q: stack.workers[t].hostname for t, q in stack.queues.items()}
    alive = stack.json("/api/workers?status=1")
    assert all(alive[w.hostname] is True for w in stack.workers.values()), alive


def test_a_finished_task_shows_its_model_key_model_and_cost(stack: Stack) -> None:
    for task_id, result in stack.results.items():
        info = wait_until(partial(_finished, stack, task_id), timeout=20, interval=0.25,
                          what=f"task {task_id} SUCCESS in Flower")
        # `result` is the repr of the returned dict: the routing facts come before the
        # (long) text, so they survive Celery's 1024-character cut.
        shown = info["result"]
        for name in ("model_key", "model", "tier", "queue", "cost_usd", "config_version"):
            assert f"'{name}': {result[name]!r}" in shown, (name, shown[:400])
        assert result["provider_mode"] == "live" and result["cost_usd"] > 0
        assert info["name"] == "llm.run"
        assert ast.literal_eval(info["kwargs"])["model_key"] == result["model_key"]
        # It ran on its tier's worker
        assert info["worker"] == stack.workers[result["tier"]].hostname
        # routed at send time, forwarded, or run in place: Flower names its tier's queue
        assert info["routing_key"] == result["queue"]
    # The list shows them all as succeeded
    listed = stack.json("/api/tasks?taskname=llm.run&state=SUCCESS")
    assert set(stack.results) <= set(listed), sorted(listed)
    by_tier = {r["tier"] for r in stack.results.values()}
    assert by_tier == set(stack.queues)
    # The foreign producer's task, sent to no particular queue, ended on the haiku tier
    assert stack.results[stack.foreign_id]["queue"] == stack.queues["haiku"]


def test_flower_shows_the_agent_and_run_of_a_task(stack: Stack) -> None:
    info = wait_until(partial(_finished, stack, stack.attributed_id), timeout=20,
                      interval=0.25, what="the attributed task SUCCESS in Flower")
    # given as headers by a foreign app: Flower shows them with the routing facts
    assert "'agent': 'ceo', 'run_id': 'flower-run-1'" in info["result"]
    rows = {row["uuid"]: row for row in stack.json(f"/tasks/datatable?{_datatable_query()}")[
        "data"]}
    assert "'agent': 'ceo'" in rows[stack.attributed_id]["result"]


def test_in_place_and_forwarded_tasks_look_the_same(stack: Stack) -> None:
    in_place = stack.results[stack.foreign_id]
    forwarded = stack.results[stack.forwarded_id]
    # the same result fields (routing facts first), each on its tier's queue
    assert list(in_place) == list(forwarded)
    assert (in_place["queue"], forwarded["queue"]) == (stack.queues["haiku"],
                                                        stack.queues["sonnet"])
    # and the same Flower-visible state: succeeded on its tier's worker, named queue,
    # received / started / succeeded times
    seen = {}
    for task_id, tier in ((stack.foreign_id, "haiku"), (stack.forwarded_id, "sonnet")):
        info = wait_until(partial(_finished, stack, task_id), timeout=20, interval=0.25,
                          what=f"task {task_id} SUCCESS in Flower")
        assert info["worker"] == stack.workers[tier].hostname
        assert info["routing_key"] == stack.queues[tier]
        assert all(info.get(k) for k in ("received", "started", "succeeded", "runtime"))
        # (a forward is a re-publish from inside the task: Celery makes the task its own
        # parent, which Flower shows; the rest is the same)
        seen[tier] = {k for k, v in info.items() if v is not None} - {"parent", "parent_id"}
    assert seen["haiku"] == seen["sonnet"]


def test_the_task_list_shows_model_key_model_and_cost(stack: Stack) -> None:
    # The tasks page has the shipped columns, the result among them
    status, page = stack.flower.get("/tasks")
    assert status == 200
    columns = re.findall(r'<th data-column="([a-z_]+)"', page)
    assert columns == TASK_COLUMNS.split(","), columns
    for task_id in stack.results:
        wait_until(partial(_finished, stack, task_id), timeout=20, interval=0.25,
                   what=f"task {task_id} SUCCESS in Flower")
    # Each row of the list (the data the page's table shows) starts its result with the
    # model key, model and cost, then tier and queue: visible without opening the task
    rows = {row["uuid"]: row for row in stack.json(f"/tasks/datatable?{_datatable_query()}")[
        "data"]}
    for task_id, result in stack.results.items():
        lead = ", ".join(f"{name!r}: {result[name]!r}"
                         for name in ("model_key", "model", "cost_usd", "tier", "queue"))
        assert rows[task_id]["result"].startswith("{" + lead + ", 'usage': "), (
            rows[task_id]["result"][:300])


@pytest.mark.parametrize("auth", [None, "ops:wrong", "intruder:flower-test-pass", "ops"])
def test_nothing_is_served_without_the_right_credentials(stack: Stack, auth: str | None) -> None:
    some_task = next(iter(stack.results))
    worker = stack.workers["haiku"].hostname
    for path in [
        "/", "/workers", f"/worker/{worker}", "/tasks", f"/task/{some_task}", "/broker",
        "/api/workers", "/api/workers?refresh=1", "/api/tasks", "/api/task/types",
        f"/api/task/info/{some_task}", f"/api/task/result/{some_task}", "/api/queues/length",
    ]:
        status, body = stack.flower.get(path, auth=auth)
        assert status == 401, (path, status, body[:200])
        assert some_task not in body and worker not in body
    # Nor can anyone without them send a task or shut a worker down
    for path in ["/api/task/async-apply/llm.run", "/api/task/send-task/llm.run",
                 f"/api/worker/shutdown/{worker}"]:
        status, _ = stack.flower.request(path, auth=auth, method="POST")
        assert status == 401, (path, status)
    assert stack.workers["haiku"].proc.poll() is None


def _datatable_query() -> str:
    params = {"draw": "1", "start": "0", "length": "100", "search[value]": "",
              "order[0][column]": "0", "order[0][dir]": "asc", "columns[0][data]": "name"}
    return urlencode(params, quote_via=quote)


def test_no_provider_key_in_anything_flower_serves_logs_or_stores(
    stack: Stack, llm_server_session: LLMServer
) -> None:
    # The workers really held the keys: every provider call carried one (redacted here)
    calls = llm_server_session.requests
    assert len(calls) >= len(stack.results)
    assert all(REDACTED in {r.headers.get(h) for h in SECRET_HEADERS} for r in calls)

    bodies: dict[str, str] = {}
    paths = [
        "/", "/workers", "/tasks", "/broker", f"/tasks/datatable?{_datatable_query()}",
        "/api/workers", "/api/workers?refresh=1", "/api/workers?status=1",
        "/api/tasks", "/api/task/types", "/api/queues/length", "/metrics", "/healthcheck",
    ]
    for worker in stack.workers.values():
        # A single worker's page and refresh inspect everything: conf, stats, active, ...
        paths += [f"/worker/{worker.hostname}",
                  f"/api/workers?refresh=1&workername={worker.hostname}"]
    for task_id in stack.results:
        paths += [f"/task/{task_id}", f"/api/task/info/{task_id}", f"/api/task/result/{task_id}"]
    for path in paths:
        status, body = stack.flower.get(path)
        assert status == 200, (path, status, body[:300])
        bodies[path] = body

    # What was fetched is the real thing: worker conf and stats, the tasks and results
    one = stack.workers["opus"].hostname
    detail = json.loads(bodies[f"/api/workers?refresh=1&workername={one}"])[one]
    assert {"conf", "stats", "active_queues", "registered"} <= set(detail)
    assert all(task_id in bodies["/api/tasks"] for task_id in stack.results)
    some_id, some = next(iter(stack.results.items()))
    assert json.loads(bodies[f"/api/task/result/{some_id}"])["result"] == some
    lengths = json.loads(bodies["/api/queues/length"])["active_queues"]
    if TEST_BROKER == "amqp":  # (RabbitMQ's management API, which is not running here)
        assert lengths == []
    else:
        assert stack.queues["kimi"] in {q["name"] for q in lengths}

    # The persisted state (saved every second) holds the finished tasks too
    def saved() -> bytes | None:
        data = b"".join(p.read_bytes() for p in stack.flower.db_files() if p.is_file())
        return data if all(i.encode() in data for i in stack.results) else None

    stored = wait_until(saved, timeout=20, interval=0.25,
                        what="the finished tasks in Flower's database")
    sources = {**bodies, "flower log": stack.flower.output(), "flower db": stored.decode("latin-1")}
    leaks = [(where, secret) for where, text in sources.items() for secret in SECRETS
             if secret in text]
    assert not leaks, leaks


def test_a_restarted_flower_still_shows_the_finished_tasks(stack: Stack) -> None:
    """`--persistent=True --db=...` (as in docker-compose): the state survives a restart."""
    for task_id in stack.results:
        wait_until(partial(_finished, stack, task_id), timeout=20, interval=0.25,
                   what=f"task {task_id} SUCCESS in Flower")
    old = stack.flower
    old.stop()  # SIGTERM: Flower saves its state on the way out
    assert old.proc.returncode == 0, old.output()[-2000:]
    stack.flower = FlowerProcess(stack.env, db=old.db, basic_auth=AUTH)
    stack.flower.wait_ready(60)
    for task_id, result in stack.results.items():
        info = _finished(stack, task_id)
        assert info is not None, task_id
        assert f"'model': {result['model']!r}" in info["result"]
        assert info["worker"] == stack.workers[result["tier"]].hostname
    assert stack.flower.get("/api/tasks", auth=None)[0] == 401


@pytest.mark.parametrize("auth", [None, "", "ops", "ops:", "ops:pw,nobody"])
def test_flower_refuses_to_start_without_a_login(auth: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    if auth is not None:
        env["FLOWER_BASIC_AUTH"] = auth
    done = subprocess.run([sys.executable, "-m", "cli", "flower", "--port=0"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "FLOWER_BASIC_AUTH must be set" in done.stderr and "Traceback" not in done.stderr
