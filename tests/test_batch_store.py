"""The provider-batch store on real Redis (one server, and a three-master Cluster): calls
appended once, a batch closed by the call that fills it (never overfilled) or when due,
one claimer at a time, outcomes written once, every key under the namespace's hash tag."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import redis

from routing.batches.store import (
    DONE,
    SUBMITTED,
    SUBMITTING,
    BatchStore,
    TaskRecord,
    custom_id,
)
from routing.keys import keyspace
from tests.support.wait import wait_until

MODEL = "claude-haiku-4-5"


def record(task_id: str) -> TaskRecord:
    return TaskRecord(custom_id(task_id), 0, f"{task_id}:0:batch", MODEL, 100,
                      {"input": "0.8", "output": "4", "cache_read": "0.08", "cache_write": "1",
                       "batch_discount": "0.5"})


def append(store: BatchStore, task_id: str, *, max_items: int = 10,
           wait: float = 600) -> Any:
    return store.append(model=MODEL, provider="anthropic", provider_model=MODEL,
                        task_id=task_id, item={"task_id": task_id, "request": {}},
                        record=record(task_id), max_items=max_items, max_wait_seconds=wait)


def test_a_call_is_stored_once_and_its_task_recorded(
    redis_client: redis.Redis, namespace: str
) -> None:
    store = BatchStore(redis_client, namespace)
    first = append(store, "t1")
    assert (first.stored, first.count, first.closed) == (True, 1, None)
    # a redelivered message stores nothing more
    assert not append(store, "t1").stored
    assert store.record("t1") == record("t1")
    assert store.record("t2") is None
    assert store.due_models() == []  # not due for ten minutes
    assert store.due_models(everything=True) == [MODEL]
    assert store.summary() == {"open": (1, 1)}
    # every key is under the namespace's hash tag (one slot on a Cluster)
    keys = {k.decode() for k in redis_client.scan_iter(match=f"*{namespace}*")}
    assert keys and all(k.startswith(keyspace(namespace) + ":batch:") for k in keys)


def test_task_ids_the_providers_refuse_get_a_custom_id_they_take() -> None:
    assert custom_id("3f2b8c1e-1f7a-4e3b-9a55-0c9d2b1e7f00") == \
        "3f2b8c1e-1f7a-4e3b-9a55-0c9d2b1e7f00"
    odd = custom_id("run-42:curation")  # ':' is not allowed in a custom id
    assert odd != custom_id("run-43:curation") and len(odd) <= 64 and odd.isalnum()


def test_the_call_that_fills_a_batch_closes_it_and_none_overfills(
    redis_client: redis.Redis, namespace: str
) -> None:
    store = BatchStore(redis_client, namespace)
    closed: list[str] = []
    lock = threading.Lock()

    def add(n: int) -> None:
        done = append(store, f"t{n}", max_items=5)
        if done.closed:
            with lock:
                closed.append(done.closed)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(22)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # Then 4 batches of exactly 5 were closed, to be submitted; 2 calls wait in a new one
    assert len(closed) == 4 and set(store.active()) == set(closed)
    for batch_id in closed:
        batch = store.get(batch_id)
        assert batch is not None and (batch.state, batch.count) == (SUBMITTING, 5)
        assert len(store.items(batch_id)) == 5
    assert store.summary() == {"open": (1, 2), SUBMITTING: (4, 20)}


def test_an_open_batch_closes_when_due_and_one_claimer_holds_it(
    redis_client: redis.Redis, namespace: str
) -> None:
    store = BatchStore(redis_client, namespace)
    append(store, "t1")
    assert store.close(MODEL, "a", 60) is None  # not due yet
    batch = store.close(MODEL, "a", 60, force=True)
    assert batch is not None and batch.state == SUBMITTING and batch.count == 1
    assert store.close(MODEL, "b", 60, force=True) is None  # nothing open any more
    # the closer holds the claim: no one else may take it, nor write under a lost claim
    assert store.claim(batch.id, "b", 60, (SUBMITTING,)) is None
    assert not store.update(batch.id, "b", state=SUBMITTED)
    assert store.update(batch.id, "a", release=True, state=SUBMITTED, provider_batch="p1",
                        submitted="NOW")
    # released: the next claimer takes it, in the states it asks for only
    assert store.claim(batch.id, "c", 60, (SUBMITTING,)) is None
    polled = store.claim(batch.id, "c", 0.05, (SUBMITTED,))
    assert polled is not None and polled.provider_batch == "p1" and polled.submitted > 0
    # a claim that lapses (its holder died) is taken by the next one
    wait_until(lambda: store.claim(batch.id, "d", 60, (SUBMITTED,)), what="the lapsed claim")
    assert not store.finish(batch.id, "c", DONE)  # "c" lost it
    assert store.finish(batch.id, "d", DONE)
    assert store.active() == {} and store.get(batch.id).state == DONE  # type: ignore[union-attr]
    # a finished batch's keys are kept for a while, not forever
    assert 0 < redis_client.ttl(f"{keyspace(namespace)}:batch:{batch.id}") <= 3 * 86400


def test_an_outcome_is_written_once(redis_client: redis.Redis, namespace: str) -> None:
    store = BatchStore(redis_client, namespace)
    append(store, "t1")
    assert store.save_outcome("t1", record("t1"), {"kind": "ok", "text": "first"})
    assert not store.save_outcome("t1", record("t1"), {"kind": "ok", "text": "second"})
    found = store.record("t1")
    assert found is not None and found.outcome == {"kind": "ok", "text": "first"}
    # a record gone (it outlived its keep) is written again with the outcome
    redis_client.delete(store.task_key("t2"))
    assert store.save_outcome("t2", record("t2"), {"kind": "expired"})
    assert store.record("t2") == replace(record("t2"), outcome={"kind": "expired"})
