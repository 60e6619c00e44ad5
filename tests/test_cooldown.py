"""Cooldowns are shared through Redis and read from memory between refreshes."""

from __future__ import annotations

import redis

from routing.cooldown import Cooldowns
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
    assert redis_client.pttl(f"{namespace}:cooldown:m") > 5000
    assert cd.remaining("m") > 5


def test_remaining_reads_redis_at_most_once_per_refresh(
    redis_client: redis.Redis, namespace: str
) -> None:
    cd = Cooldowns(redis_client, namespace, refresh=60)
    calls = 0
    real = redis_client.pttl

    def counting(key: str) -> int:
        nonlocal calls
        calls += 1
        return int(real(key))

    redis_client.pttl = counting  # type: ignore[method-assign]
    try:
        for _ in range(100):
            assert cd.remaining("quiet-model") == 0
    finally:
        del redis_client.pttl
    assert calls == 1
