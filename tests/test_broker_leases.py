"""Leases in Redis (workers/broker/leases.py) on the real test Redis, and their settings.

Expiry is shown by writing old scores (Redis time minus N seconds), never by waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.support.redis import delete_matching
from workers.broker import leases
from workers.broker.errors import LeaseOptionsError
from workers.broker.leases import LeaseKeys, LeaseOptions
from workers.settings import Settings

OPTIONS = LeaseOptions()  # the shipped 20 s lease, renewed every 4 s


@pytest.fixture
def keys(redis_url: str) -> Iterator[LeaseKeys]:
    prefix = f"llmr-lease-test-{uuid.uuid4().hex[:8]}:"
    yield LeaseKeys(unacked=f"{prefix}unacked", index=f"{prefix}unacked_index",
                    lease=f"{prefix}unacked_lease", clock=f"{prefix}unacked_clock")
    delete_matching(redis_url, f"{prefix}*")


def now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def held(client: redis.Redis, keys: LeaseKeys, *tags: str) -> None:
    for tag in tags:
        leases.append(client, keys, tag, f'["{tag}"]', 0.0, "epoch-1")


def age(client: redis.Redis, keys: LeaseKeys, tag: str, seconds: float) -> None:
    """Make `tag`'s lease `seconds` old."""
    client.zadd(keys.lease, {tag: now(client) - seconds})


def clock(client: redis.Redis, keys: LeaseKeys, *, resumed_ago: float) -> None:
    t = now(client)
    client.hset(keys.clock, mapping={"resumed": t - resumed_ago, "beat": t})


def test_a_delivery_is_recorded_with_a_lease_and_the_data_epoch(
    redis_client: redis.Redis, keys: LeaseKeys
) -> None:
    epoch = leases.append(redis_client, keys, "t1", '["m"]', 123.0, "first")
    assert epoch == "first"
    assert leases.append(redis_client, keys, "t2", '["m"]', 124.0, "second") == "first"
    assert redis_client.hget(keys.unacked, "t1") == b'["m"]'
    assert redis_client.zscore(keys.index, "t1") == 123.0  # kombu's: the visibility timeout's
    assert abs(redis_client.zscore(keys.lease, "t1") - now(redis_client)) < 5  # type: ignore[operator]


def test_a_beat_renews_what_redis_still_has_and_marks_a_resumption_after_a_gap(
    redis_client: redis.Redis, keys: LeaseKeys
) -> None:
    held(redis_client, keys, "mine")
    age(redis_client, keys, "mine", 15)
    first = leases.beat(redis_client, keys, OPTIONS, "e", ["mine", "gone"])
    # The first beat ever is a resumption; the lease is fresh again; no lease is created
    assert float(redis_client.hget(keys.clock, "resumed")) == first.now  # type: ignore[arg-type]
    assert redis_client.zscore(keys.lease, "mine") == first.now
    assert redis_client.zscore(keys.lease, "gone") is None
    # A beat within the gap keeps the resumption; one after a longer silence moves it
    leases.beat(redis_client, keys, OPTIONS, "e", [])
    assert float(redis_client.hget(keys.clock, "resumed")) == first.now  # type: ignore[arg-type]
    redis_client.hset(keys.clock, "beat", now(redis_client) - OPTIONS.gap - 1)
    later = leases.beat(redis_client, keys, OPTIONS, "e", [])
    assert float(redis_client.hget(keys.clock, "resumed")) == later.now  # type: ignore[arg-type]


def test_a_sweep_claims_expired_leases_of_other_workers_only(
    redis_client: redis.Redis, keys: LeaseKeys
) -> None:
    held(redis_client, keys, "dead", "mine", "fresh")
    clock(redis_client, keys, resumed_ago=600)
    age(redis_client, keys, "dead", OPTIONS.timeout + 1)
    age(redis_client, keys, "mine", OPTIONS.timeout + 1)
    age(redis_client, keys, "fresh", OPTIONS.timeout - 3)
    claimed = leases.sweep(redis_client, keys, OPTIONS, own=["mine"])
    assert [tag for tag, _ in claimed] == ["dead"]
    assert OPTIONS.timeout < claimed[0][1] < OPTIONS.timeout + 5
    # Claimed once: its lease is gone, the message itself is still in `unacked`
    assert redis_client.zscore(keys.lease, "dead") is None
    assert redis_client.hexists(keys.unacked, "dead")
    assert leases.sweep(redis_client, keys, OPTIONS, own=["mine"]) == []


def test_after_an_outage_a_stale_lease_waits_for_its_holder_to_renew(
    redis_client: redis.Redis, keys: LeaseKeys
) -> None:
    # Given leases that went stale while the workers could not reach Redis, which they
    # reached again (a beat after a silence: `resumed`) a moment ago
    held(redis_client, keys, "long-ago", "just-expired")
    age(redis_client, keys, "long-ago", 120)
    age(redis_client, keys, "just-expired", OPTIONS.timeout + 1)
    clock(redis_client, keys, resumed_ago=OPTIONS.grace - 2)
    # When a worker sweeps within the grace: neither goes (their holders may renew)
    assert leases.sweep(redis_client, keys, OPTIONS, own=[]) == []
    # Then once the grace is over, both go: their holders did not renew them
    clock(redis_client, keys, resumed_ago=OPTIONS.grace + 1)
    assert sorted(tag for tag, _ in leases.sweep(redis_client, keys, OPTIONS, own=[])) == [
        "just-expired", "long-ago"]


def test_the_first_sweep_after_a_silence_claims_nothing_stale(
    redis_client: redis.Redis, keys: LeaseKeys
) -> None:
    # Given a Redis back from an outage (restarted with its AOF): the last beat and every
    # lease are as old as the outage, and no worker has beaten since
    held(redis_client, keys, "held-through-the-outage")
    age(redis_client, keys, "held-through-the-outage", 33)
    t = now(redis_client)
    redis_client.hset(keys.clock, mapping={"resumed": t - 600, "beat": t - 31})
    # When the first worker back sweeps before any renewal
    assert leases.sweep(redis_client, keys, OPTIONS, own=[]) == []
    # Then it marked the resumption: the holder has the grace to renew
    assert float(redis_client.hget(keys.clock, "resumed")) > t - 1  # type: ignore[arg-type]


def test_a_lease_renewed_after_the_resumption_expires_as_usual(
    redis_client: redis.Redis, keys: LeaseKeys
) -> None:
    held(redis_client, keys, "renewed-then-dead")
    clock(redis_client, keys, resumed_ago=OPTIONS.timeout + 3)
    age(redis_client, keys, "renewed-then-dead", OPTIONS.timeout + 1)
    assert [t for t, _ in leases.sweep(redis_client, keys, OPTIONS, own=[])] == [
        "renewed-then-dead"]


def test_write_back_forgets_acknowledged_and_registers_missing_deliveries(
    redis_client: redis.Redis, keys: LeaseKeys
) -> None:
    held(redis_client, keys, "acked")
    leases.write_back(redis_client, keys, ["acked"], [("lost", '["lost"]')], now(redis_client))
    assert not redis_client.hexists(keys.unacked, "acked")
    assert redis_client.zscore(keys.lease, "acked") is None
    assert redis_client.hget(keys.unacked, "lost") == b'["lost"]'
    assert redis_client.zscore(keys.lease, "lost") is not None
    assert redis_client.zscore(keys.index, "lost") is not None


@pytest.mark.parametrize(("lease", "renew"), [
    (20, 4), (18, 4), (17, 4), (10, 1), (10, 2), (3600, 1198), (3600, 1199), (60, 30)])
def test_settings_and_transport_options_agree_on_the_lease_rule(lease: int, renew: int) -> None:
    try:
        LeaseOptions(float(lease), float(renew))
        transport_ok = True
    except LeaseOptionsError:
        transport_ok = False
    try:
        Settings(LLM_ROUTER_BROKER_LEASE_SECONDS=lease,
                 LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS=renew)
        settings_ok = True
    except ValueError as exc:
        settings_ok = False
        assert "broker_lease" in str(exc).lower()
    assert settings_ok == transport_ok == (lease >= 3 * renew + 6)


def test_a_renew_interval_too_long_for_the_lease_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"RENEW_SECONDS=6 is too long.*LEASE_SECONDS=20.*"
                                         r"lower the renew interval to 4 or raise the lease "
                                         r"to 24"):
        Settings(LLM_ROUTER_BROKER_LEASE_SECONDS=20, LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS=6)
