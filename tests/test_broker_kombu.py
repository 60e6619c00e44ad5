"""The kombu internals workers/broker relies on are still there (kombu 5.7's Redis
transport). A failure names what changed and what to re-check before accepting that kombu."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from importlib.metadata import version

import pytest
import redis
from kombu import Connection
from kombu.simple import SimpleQueue

from tests.support.redis import delete_matching
from workers.broker import internals
from workers.broker.errors import KombuChangedError
from workers.broker.keeper import KEEPER
from workers.broker.transport import Channel, Transport


def test_the_installed_kombu_is_the_pinned_series() -> None:
    installed = version("kombu")
    assert installed.startswith("5.7."), (
        f"kombu {installed} is installed; workers/broker was checked against 5.7 only: "
        f"{internals.__doc__}")


def test_every_class_internal_is_there_with_its_parameters() -> None:
    problems = internals.class_problems()
    assert not problems, internals.refusal(problems)


PREFIX = f"llmr-kombu-check-{uuid.uuid4().hex[:8]}:"  # one per test process


@pytest.fixture
def channel(redis_url: str) -> Iterator[Channel]:
    with Connection(redis_url, transport=Transport,
                    transport_options={"global_keyprefix": PREFIX}) as conn:
        chan = conn.channel()
        assert isinstance(chan, Channel)
        yield chan
        # this process is done with it: no more beats into its clock once deleted
        KEEPER.unwatch(chan.broker)
    delete_matching(redis_url, f"{PREFIX}*")


def test_every_instance_internal_is_there(channel: Channel, redis_client: redis.Redis) -> None:
    # A real delivery: published, received with acknowledgement due, recorded with a lease
    queue = SimpleQueue(channel, f"check-{uuid.uuid4().hex[:6]}")
    queue.put({"n": 1})
    message = queue.get(timeout=5)
    tag = message.delivery_tag
    assert tag is not None
    assert redis_client.zscore(f"{PREFIX}unacked_lease", tag) is not None
    problems = [*internals.instance_problems("Channel", channel),
                *internals.instance_problems("Message", message)]
    assert not problems, internals.refusal(problems)
    message.ack()
    assert redis_client.zscore(f"{PREFIX}unacked_lease", tag) is None
    assert not redis_client.hexists(f"{PREFIX}unacked", tag)
    queue.close()


def test_a_changed_internal_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a kombu whose QoS lost a method this transport overrides
    monkeypatch.setattr(internals, "CLASS_INTERNALS", (
        *internals.CLASS_INTERNALS, ("kombu.transport.redis", "QoS", "restore_gone", ())))
    internals.require.cache_clear()
    try:
        # Then creating the transport fails, naming it and what to re-check
        with pytest.raises(KombuChangedError, match=r"QoS\.restore_gone is gone.*Re-check"):
            Transport(client=Connection("redis://127.0.0.1:1/0"))
    finally:
        internals.require.cache_clear()


def test_a_channel_reuses_one_client_per_pool_and_keeps_the_key_prefix(
        channel: Channel, redis_client: redis.Redis) -> None:
    # kombu builds a client per command outside the event loop; ours, one per pool
    with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
        assert first is second
        first.set("reuse-check", "1")  # through the prefixed client
    assert redis_client.get(f"{PREFIX}reuse-check") == b"1"
    # a new pool (kombu replaces it after a connection error) gets a new client
    old_pool = channel.pool
    channel._pool = None  # type: ignore[attr-defined]  # kombu's lazy pool
    with channel.conn_or_acquire() as third:
        assert third is not first and channel.pool is not old_pool
        assert third.connection_pool is channel.pool
