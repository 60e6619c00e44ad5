"""The curation inbox: claimed atomically, malformed items dead-lettered with the reason,
nothing lost when a run dies between claiming and handing on."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from celery import states
from celery.result import AsyncResult

from tasks.inbox import STALE_SECONDS, CurationInbox
from tests.support.batches import submit_waiting
from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.runtime import get_runtime


def _item(n: int) -> str:
    return json.dumps({"id": f"i{n}", "title": f"title {n}", "text": "t"})


def _redeliver(worker: Session, run: str) -> Any:
    """Deliver the cron run `run` again (same task id) and return its second result.

    The result is read from the backend's key, not with get(): the result consumer may
    still hold the first run's message for this id (its first get() can find the key
    before the message arrives), which a second get() of the same id would return."""
    AsyncResult(run, app=worker.app).forget()
    worker.app.send_task("cron.content_curation", task_id=run)

    def second() -> dict[str, Any] | None:
        meta = worker.app.backend.get_task_meta(run, cache=False)
        if meta["status"] in states.READY_STATES:
            assert meta["status"] == states.SUCCESS, meta
            return meta
        return None

    return wait_until(second, timeout=30, what="the redelivered run's result")["result"]


def test_a_malformed_item_is_dead_lettered_and_the_rest_are_curated(
    worker: Session, llm_server: LLMServer
) -> None:
    inbox = CurationInbox(redis.Redis.from_url(worker.env["LLM_ROUTER_REDIS_URL"]),
                          worker.namespace)
    inbox.redis.delete(inbox.key, inbox.dead_key)
    inbox.redis.rpush(inbox.key, _item(1), "not json {", json.dumps({"id": "x"}), _item(2))
    llm_server.set_reply(json.dumps({"selected": [{"id": "i1", "reason": "on topic"}]}))
    out = worker.app.send_task("cron.content_curation").get(timeout=30)
    assert (out["items"], out["dead_lettered"]) == (2, 2)
    # curation can wait (the shipped config batches it): Beat's round submits its batch
    submit_waiting(worker.app)
    handed = AsyncResult(out["task_id"], app=worker.app).get(timeout=30)
    assert handed["batch_id"] == llm_server.batches.created()[0]
    assert handed["output"]["selected"][0]["id"] == "i1"
    # the inbox is empty, the dead letters say why, and no claim is left behind
    assert inbox.redis.llen(inbox.key) == 0
    dead = [json.loads(d) for d in inbox.redis.lrange(inbox.dead_key, 0, -1)]
    assert [d["item"] for d in dead] == ["not json {", json.dumps({"id": "x"})]
    assert "Invalid JSON" in dead[0]["reason"] and dead[1]["reason"].startswith("title:")
    assert inbox.redis.hlen(inbox.claims_key) == 0
    inbox.redis.delete(inbox.dead_key)


def test_a_run_that_dies_after_claiming_loses_nothing(
    redis_client: redis.Redis, namespace: str
) -> None:
    inbox = CurationInbox(redis_client, namespace)
    redis_client.rpush(inbox.key, *(_item(n) for n in range(5)))
    # Given a run that claimed three items and died before handing them on
    claimed = inbox.claim("dead-run", 3).items
    assert [i["id"] for i in claimed] == ["i0", "i1", "i2"]
    assert redis_client.llen(inbox.key) == 2
    # When it is redelivered (same task id), it finds the same claim
    again = inbox.claim("dead-run", 3).items
    assert again == claimed and redis_client.llen(inbox.key) == 2
    # And once the claim is stale, the next run puts it back at the head of the inbox
    stale = time.time() - STALE_SECONDS - 1
    redis_client.zadd(inbox.claimed_at_key, {"dead-run": stale})
    items = inbox.claim("next-run", 10).items
    assert [i["id"] for i in items] == ["i0", "i1", "i2", "i3", "i4"]
    inbox.done("next-run")
    assert redis_client.llen(inbox.key) == 0 and redis_client.hlen(inbox.claims_key) == 0
    assert redis_client.zcard(inbox.claimed_at_key) == 0


def test_a_run_delivered_again_after_handing_on_claims_nothing_more(
    redis_client: redis.Redis, namespace: str
) -> None:
    inbox = CurationInbox(redis_client, namespace)
    redis_client.rpush(inbox.key, *(_item(n) for n in range(3)))
    assert len(inbox.claim("run-1", 2).items) == 2
    inbox.done("run-1")
    # Delivered again after it handed on (before its message was acknowledged): it claims
    # nothing, and the next item waits for the next run
    again = inbox.claim("run-1", 2)
    assert (again.items, again.handed) == ([], True)
    assert redis_client.llen(inbox.key) == 1
    assert [i["id"] for i in inbox.claim("run-2", 2).items] == ["i2"]


def test_a_redelivered_cron_run_neither_loses_nor_recurates_items(
    worker: Session, llm_server: LLMServer
) -> None:
    inbox = CurationInbox(redis.Redis.from_url(worker.env["LLM_ROUTER_REDIS_URL"]),
                          worker.namespace)
    inbox.redis.delete(inbox.key, inbox.dead_key)
    llm_server.set_reply(json.dumps({"selected": [{"id": "i1", "reason": "on topic"}]}))
    inbox.redis.rpush(inbox.key, _item(1), _item(2))
    # Given a cron run that handed its items on
    run = f"cron-run-{time.time_ns()}"
    first = worker.app.send_task("cron.content_curation", task_id=run).get(timeout=30)
    assert first["items"] == 2
    # When more items arrive and the same run is delivered again (its worker died after
    # handing on, before the message was acknowledged: same task id, same body)
    inbox.redis.rpush(inbox.key, _item(3))
    again = _redeliver(worker, run)
    # Then it hands nothing on (the new item is not claimed under the id already used,
    # where a batched hand-on would have been dropped as a duplicate and the item lost)
    assert again == {"skipped": "this run handed its items on already",
                     "task_id": f"{run}:curation"}
    assert inbox.redis.lrange(inbox.key, 0, -1) == [_item(3).encode()]
    # and the next run curates it
    submit_waiting(worker.app)
    assert AsyncResult(first["task_id"], app=worker.app).get(timeout=30)["output"]
    llm_server.set_reply(json.dumps({"selected": [{"id": "i3", "reason": "on topic"}]}))
    nxt = worker.app.send_task("cron.content_curation").get(timeout=30)
    assert nxt["items"] == 1 and inbox.redis.llen(inbox.key) == 0
    submit_waiting(worker.app)
    assert AsyncResult(nxt["task_id"], app=worker.app).get(timeout=30)["output"]


def test_a_run_that_dies_between_handing_on_and_done_curates_its_items_once(
    worker: Session, llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given curation called directly (no provider batch), and two items in the inbox
    def direct(doc: dict[str, Any]) -> str:
        doc["model_keys"]["content_curation"]["batch"] = None
        return "curation direct"

    cfg = worker.store.update(direct, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)
    inbox = CurationInbox(redis.Redis.from_url(worker.env["LLM_ROUTER_REDIS_URL"]),
                          worker.namespace)
    inbox.redis.delete(inbox.key, inbox.dead_key)
    llm_server.set_reply(json.dumps({"selected": [{"id": "i1", "reason": "on topic"}]}))
    inbox.redis.rpush(inbox.key, _item(1), _item(2))
    # and a cron run whose worker dies after handing the items on, before `done`
    real_done = CurationInbox.done
    calls: list[str] = []

    def dies_once(self: CurationInbox, run: str) -> None:
        calls.append(run)
        if len(calls) == 1:
            raise RuntimeError("the worker died before recording the hand-on")
        real_done(self, run)

    monkeypatch.setattr(CurationInbox, "done", dies_once)
    run = f"cron-run-{time.time_ns()}"
    first = worker.app.send_task("cron.content_curation", task_id=run)
    with pytest.raises(RuntimeError):
        first.get(timeout=30)
    # When the run is delivered again: it hands the same items on again, same task id
    again = _redeliver(worker, run)
    assert again["items"] == 2 and again["task_id"] == f"{run}:curation"
    # Then one hand-on runs and the other is dropped as its repeat, whichever came first
    wait_until(lambda: inbox.repeats(f"{run}:curation") == 1, timeout=30,
               what="the second hand-on dropped as a repeat")
    assert AsyncResult(again["task_id"], app=worker.app).get(timeout=30)["output"]
    curated = [r for r in llm_server.requests_for("claude-haiku-4-5")
               if "title 1" in json.dumps(r.body)]
    assert len(curated) == 1
    # and the items were not shown a token (it steers the task, it is not the prompt)
    assert "hand_on" not in json.dumps(curated[0].body)
