"""The deferral store (tasks parked until their budget window resets), on one server and on
a Redis Cluster: park, claim what is due under a lease, release, and reclaim a claim whose
lease ran out (its claimer died)."""

from __future__ import annotations

import redis

from routing.spend.deferred import DeferredTasks


def test_only_due_tasks_are_claimed_and_each_once_per_lease(
    redis_client: redis.Redis, namespace: str
) -> None:
    store = DeferredTasks(redis_client, namespace, lease_seconds=30)
    store.park({"task_id": "a", "kwargs": {"n": 1}}, due=100.0)
    store.park({"task_id": "b", "kwargs": {"n": 2}}, due=200.0)
    assert store.count() == 2
    # Given the clock at 150: only a is due, and a second claimer gets nothing
    claimed = store.claim_due(now=150.0)
    assert claimed == ['{"kwargs": {"n": 1}, "task_id": "a"}']
    assert store.claim_due(now=150.0) == []
    # When its claimer published it, it is gone; b stays parked
    store.done(claimed[0])
    assert [p["task_id"] for p, _ in store.pending()] == ["b"]


def test_a_claim_whose_lease_ran_out_is_claimed_again(
    redis_client: redis.Redis, namespace: str
) -> None:
    store = DeferredTasks(redis_client, namespace, lease_seconds=30)
    store.park({"task_id": "a"}, due=100.0)
    first = store.claim_due(now=100.0)
    assert len(first) == 1
    assert store.claim_due(now=129.0) == []  # within the lease: nobody else takes it
    assert store.claim_due(now=131.0) == first  # the claimer died: claimed again
    assert store.count() == 1
