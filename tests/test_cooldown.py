"""Cooldowns are shared through Redis, read from memory between refreshes, and end
half-open: one probe call first, the rest once it succeeded."""

from __future__ import annotations

import redis

from routing.keys import keyspace
from routing.spend.cooldown import PROBE_WAIT, Cooldowns
from tests.support.spend import counting_client
from tests.support.wait import wait_until


def test_a_cooldown_set_by_one_worker_is_seen_by_another(
    redis_client: redis.Redis, namespace: str
) -> None:
    mine, theirs = Cooldowns(redis_client, namespace), Cooldowns(redis_client, namespace)
    assert theirs.remaining("m") == 0
    mine.start("m", 5)
    assert 4 < mine.remaining("m") <= 5  # at once for the worker that was told
    assert 4 < wait_until(lambda: theirs.remaining("m"), timeout=2) <= 5


def test_a_shorter_cooldown_does_not_cut_a_longer_one(
    redis_client: redis.Redis, namespace: str
) -> None:
    cd = Cooldowns(redis_client, namespace)
    cd.start("m", 10)
    cd.start("m", 1)
    assert redis_client.pttl(f"{keyspace(namespace)}:cooldown:m") > 5000
    assert cd.remaining("m") > 5


def test_remaining_reads_redis_at_most_once_per_refresh(redis_url: str, namespace: str) -> None:
    client, conn = counting_client(redis_url)
    try:
        cd = Cooldowns(client, namespace, refresh=60)
        conn.round_trips = 0
        for _ in range(100):
            assert cd.remaining("quiet-model") == 0
            cd.succeeded("quiet-model")  # no round trip for a model that was never limited
        assert conn.round_trips == 1
    finally:
        client.close()


def test_after_a_cooldown_one_probe_goes_first_and_its_success_opens_it_for_all(
    redis_client: redis.Redis, namespace: str
) -> None:
    # Given three workers and a cooldown that has just ended
    a, b, c = (Cooldowns(redis_client, namespace, refresh=0) for _ in range(3))
    a.start("m", 0.05)
    wait_until(lambda: redis_client.pttl(f"{keyspace(namespace)}:cooldown:m") < 0, timeout=2)
    # Then the first to ask is the probe; the others wait for it
    assert b.remaining("m") == 0
    assert a.remaining("m") == PROBE_WAIT and c.remaining("m") == PROBE_WAIT
    # When the probe succeeds, everyone goes
    b.succeeded("m")
    assert a.remaining("m") == 0 and c.remaining("m") == 0 and b.remaining("m") == 0


def test_a_probe_answered_429_starts_a_new_cooldown(
    redis_client: redis.Redis, namespace: str
) -> None:
    a, b = (Cooldowns(redis_client, namespace, refresh=0) for _ in range(2))
    a.start("m", 0.05)
    wait_until(lambda: redis_client.pttl(f"{keyspace(namespace)}:cooldown:m") < 0, timeout=2)
    assert a.remaining("m") == 0  # a probes ...
    a.start("m", 5)  # ... and is told to wait again
    assert 4 < b.remaining("m") <= 5 and 4 < a.remaining("m") <= 5
