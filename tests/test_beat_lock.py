"""One Beat across replicas: two real `celery -A workers.app beat` processes (celery-redbeat,
its lock in the routing Redis: one server, or a Redis Cluster) send every cron exactly once
per period, and when the Beat holding the lock is killed, the other takes over within the
lock's timeout.

The schedule is the production one with short periods (tests/support/beat.py); nothing
consumes the default queue here, so every cron message Beat sent waits in the broker list,
where the test counts them. A message's send time is its absolute expiry minus the
entry's relative one.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
import redis

from routing.connect import connect
from routing.keys import keyspace
from tests.support.beat import PERIODS_ENV, BeatProcess, fast_schedule, sends
from tests.support.redis import delete_namespace
from tests.support.wait import wait_until
from workers.contract import DEFAULT_QUEUE

# Short enough for the test; the Beat holding the lock renews it every fifth of this.
LOCK_TIMEOUT = 4
MAX_LOOP = LOCK_TIMEOUT / 5
# Production order (most frequent first), a few seconds each instead of minutes to a month.
PERIODS = {
    "provider-batches-every-30-seconds": 0.8,
    "monitoring-every-30-minutes": 1.0,
    "content-curation-every-6-hours": 1.5,
    "daily-cost-report": 2.0,
    "daily-reconciliation": 2.2,
    "monthly-routing-review": 2.5,
}
SCHEDULE = fast_schedule(PERIODS)
TASK_ENTRY = {entry["task"]: name for name, entry in SCHEDULE.items()}


@pytest.fixture(params=["server", "cluster"])
def routing(request: pytest.FixtureRequest, redis_url: str) -> Iterator[tuple[str, redis.Redis]]:
    """The routing Redis (LLM_ROUTER_REDIS_URL: the shared test server, or a Redis
    Cluster) and a client of it; the broker is always the shared server."""
    url = redis_url if request.param == "server" else request.getfixturevalue(
        "redis_cluster_url")
    client = connect(url)
    yield url, client
    client.close()


@pytest.fixture
def beat_env(redis_url: str, routing: tuple[str, redis.Redis]) -> Iterator[dict[str, str]]:
    ns = f"llmr-beat-{uuid.uuid4().hex[:8]}"
    url, client = routing
    yield {
        "LLM_ROUTER_REDIS_URL": url,
        "LLM_ROUTER_BROKER_URL": redis_url,
        "LLM_ROUTER_RESULT_BACKEND": redis_url,
        "LLM_ROUTER_NAMESPACE": ns,
        "LLM_ROUTER_BROKER_PREFIX": f"{ns}:broker:",
        "LLM_ROUTER_BEAT_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
        PERIODS_ENV: json.dumps(PERIODS),
    }
    delete_namespace(redis_url, ns)
    for key in client.scan_iter(match=f"{keyspace(ns)}:*"):
        client.delete(key)


def _send_times(client: redis.Redis, env: dict[str, str]) -> dict[str, list[datetime]]:
    """Entry name -> the send times of its messages in the broker, in order."""
    times: dict[str, list[datetime]] = defaultdict(list)
    for send in sends(client, env["LLM_ROUTER_BROKER_PREFIX"] + DEFAULT_QUEUE):
        name = TASK_ENTRY[send.task]
        expires = timedelta(seconds=SCHEDULE[name]["options"]["expires"])
        times[name].append(send.expires - expires)
    return {name: sorted(ts) for name, ts in times.items()}


def _every_cron_sent(client: redis.Redis, env: dict[str, str], at_least: dict[str, int]
                     ) -> dict[str, list[datetime]] | None:
    times = _send_times(client, env)
    done = all(len(times.get(name, [])) >= n for name, n in at_least.items())
    return times if done else None


def _assert_once_per_period(times: dict[str, list[datetime]]) -> None:
    """No cron sent twice within one period: a second Beat sending the same run would put
    two messages a few milliseconds apart."""
    for name, sent in times.items():
        gaps = [(b - a).total_seconds() for a, b in pairwise(sent)]
        short = [g for g in gaps if g < PERIODS[name] / 2]
        assert not short, f"{name} (every {PERIODS[name]}s) sent twice in a period: {gaps}"


def _run_counts(client: redis.Redis, ns: str) -> dict[str, int]:
    """What redbeat itself recorded: each entry's total runs (its meta in Redis)."""
    counts = {}
    for name in SCHEDULE:
        meta = client.hget(f"{keyspace(ns)}:redbeat:{name}", "meta")
        counts[name] = json.loads(meta or "{}").get("total_run_count", 0)
    return counts


def test_two_beats_send_each_cron_once_per_period_and_the_standby_takes_over(
    beat_env: dict[str, str], routing: tuple[str, redis.Redis], redis_client: redis.Redis
) -> None:
    ns = beat_env["LLM_ROUTER_NAMESPACE"]
    lock_client = routing[1]  # Beat's lock and schedule; the broker is `redis_client`
    # Given two Beat replicas started together on one deployment's Redis
    beats = [BeatProcess(beat_env, "a"), BeatProcess(beat_env, "b")]
    try:
        holder = wait_until(lambda: next((b for b in beats if b.holds_lock()), None),
                            timeout=30, what="a Beat holding the lock")
        standby = next(b for b in beats if b is not holder)

        # When every cron has run for a few periods
        before = wait_until(
            lambda: _every_cron_sent(redis_client, beat_env, dict.fromkeys(SCHEDULE, 3)),
            timeout=60, what="three sends of every cron")
        # Then each was sent once per period, by the lock holder only
        _assert_once_per_period(before)
        assert not standby.holds_lock(), standby.output()
        assert not standby.sent_before_lock(), standby.output()

        # When the Beat holding the lock dies without releasing it
        counts = {name: len(sent) for name, sent in before.items()}
        lock_key = f"{keyspace(ns)}:redbeat::lock"
        token = lock_client.get(lock_key)
        assert token is not None
        holder.kill()
        # Then the standby takes the lock within its timeout: the holder renewed it at
        # most a loop interval before dying, the standby retries every loop interval (and
        # a second of slack for a busy machine)
        wait_until(lambda: lock_client.get(lock_key) not in (None, token),
                   timeout=LOCK_TIMEOUT + MAX_LOOP + 1.0, interval=0.05,
                   what="the standby Beat taking over the lock")
        wait_until(standby.holds_lock, timeout=5, what="the standby saying it holds the lock")
        assert not standby.sent_before_lock(), standby.output()

        # And carries on from the runs recorded in Redis: no cron sent twice in a period
        after = wait_until(
            lambda: _every_cron_sent(
                redis_client, beat_env, {n: c + 2 for n, c in counts.items()}),
            timeout=60, what="two more sends of every cron after the takeover")
        _assert_once_per_period(after)
        # Every message in the broker is a run redbeat recorded (no send it did not count).
        # redbeat records a run just before it publishes it, so a Beat killed or stopped
        # between the two loses that one send: at most one per Beat that went away (the
        # killed holder, the stopped standby), never a send more than recorded.
        standby.stop()
        recorded = _run_counts(lock_client, ns)
        final = _send_times(redis_client, beat_env)
        lost = {n: recorded.get(n, 0) - len(final.get(n, [])) for n in {*recorded, *final}}
        assert all(0 <= d <= 1 for d in lost.values()), (lost, recorded)
        assert sum(lost.values()) <= 2, (lost, recorded)
    except AssertionError:
        print("\n".join(b.output() for b in beats))
        raise
    finally:
        for beat in beats:
            beat.stop()
