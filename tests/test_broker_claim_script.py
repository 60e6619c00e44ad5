"""The claim script (workers/broker/claim.py) on the real test Redis: it pops in kombu's
order, records what kombu's QoS.append would (so kombu restores it the same way), leaves
a message that is not kombu's unrecorded, and the idle wait takes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis

from tests.support.redis import delete_matching
from workers.broker import claim
from workers.broker.leases import LeaseKeys


@pytest.fixture
def keys(redis_url: str) -> Iterator[LeaseKeys]:
    prefix = f"llmr-claim-test-{uuid.uuid4().hex[:8]}:"
    yield LeaseKeys(unacked=f"{prefix}unacked", index=f"{prefix}unacked_index",
                    lease=f"{prefix}unacked_lease", clock=f"{prefix}unacked_clock")
    delete_matching(redis_url, f"{prefix}*")


def message(tag: str) -> str:
    return json.dumps({"body": "e30=", "headers": {}, "properties": {
        "delivery_tag": tag, "delivery_info": {"exchange": "", "routing_key": "q"}}})


def execute(client: redis.Redis, command: tuple[str | int | float, ...]) -> Any:
    return cast(Any, client).execute_command(*command)


def run(client: redis.Redis, keys: LeaseKeys, queues: list[str]) -> claim.Claimed | None:
    command = claim.claim_command(keys, queues, 123.5, "epoch-1")
    client.script_load(claim.CLAIM.text)
    return claim.parse(execute(client, command))


def test_a_claim_pops_in_order_and_records_as_kombu_does(
    redis_client: redis.Redis, keys: LeaseKeys,
) -> None:
    q1, q2 = keys.unacked + ":q1", keys.unacked + ":q2"
    redis_client.lpush(q2, message("b"))
    redis_client.lpush(q1, message("a1"), message("a2"))
    got = [run(redis_client, keys, [q1, q2]) for _ in range(4)]
    assert [(c.key, c.tag) if c else None for c in got] == [
        (q1, "a1"), (q1, "a2"), (q2, "b"), None]
    # the record is kombu's [message, exchange, routing key], with the index and a lease
    raw, exchange, routing_key = json.loads(redis_client.hget(keys.unacked, "a1") or b"")
    assert (raw, exchange, routing_key) == (json.loads(message("a1")), "", "q")
    assert redis_client.zscore(keys.index, "a1") == 123.5
    assert redis_client.zscore(keys.lease, "a1") is not None
    assert {c.epoch for c in got if c} == {"epoch-1"}


def test_a_message_not_in_kombus_format_is_returned_unrecorded(
    redis_client: redis.Redis, keys: LeaseKeys,
) -> None:
    q = keys.unacked + ":q"
    redis_client.lpush(q, "not json", json.dumps({"properties": {}}))
    assert [(c.item, c.tag) if c else None for c in
            (run(redis_client, keys, [q]) for _ in range(2))] == [
        (b"not json", ""), (b'{"properties": {}}', "")]
    assert redis_client.hlen(keys.unacked) == 0


def test_the_idle_wait_takes_nothing(redis_client: redis.Redis, keys: LeaseKeys) -> None:
    q = keys.unacked + ":q"
    redis_client.lpush(q, "m1", "m2")
    assert execute(redis_client, claim.wait_command(q, 0.1)) == b"m1"
    assert redis_client.lrange(q, 0, -1) == [b"m2", b"m1"]
    assert execute(redis_client, claim.wait_command(keys.unacked + ":none", 0.1)) is None
