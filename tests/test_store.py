"""The config store: versions, history, optimistic concurrency, rollback, change events."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from routing.config.store import ConfigStore
from routing.errors import (
    ConfigExistsError,
    ConfigNotInitializedError,
    UnknownVersionError,
    VersionConflictError,
)
from routing.router import Router


@pytest.fixture
def store(redis_client: redis.Redis, namespace: str) -> Iterator[ConfigStore]:
    yield ConfigStore(redis_client, namespace)


def test_empty_store(store: ConfigStore) -> None:
    assert store.version() == 0
    assert store.history() == []
    with pytest.raises(ConfigNotInitializedError, match="config init"):
        store.read()


def test_keys_live_under_the_namespace(store: ConfigStore, redis_client: redis.Redis) -> None:
    store.init(author="t")
    # every key under the namespace's hash tag (one Redis Cluster slot)
    prefix = "{" + store.namespace + "}"
    keys = {k.decode() for k in redis_client.scan_iter(match=f"{prefix}:*")}
    assert keys and all(k.startswith(f"{prefix}:config:") for k in keys)
    assert not list(redis_client.scan_iter(match=f"{store.namespace}:*"))


def test_init_then_versions_increase_with_history(store: ConfigStore) -> None:
    assert store.init(author="alice").version == 1
    with pytest.raises(ConfigExistsError, match="--force"):
        store.init(author="alice")
    cfg = store.set_model("code_review", "gpt-4o", author="bob")
    assert cfg.version == 2 == store.version() == store.read().version
    assert cfg.model_keys["code_review"].model == "gpt-4o"
    assert "gpt-4o" not in cfg.model_keys["code_review"].fallbacks
    newest = store.history(1)[0]
    assert newest["version"] == 2 and newest["author"] == "bob"
    assert "model_keys.code_review.model" in newest["changes"]
    assert newest["at"].endswith("Z")
    assert store.init(author="carol", force=True).version == 3


def test_history_keeps_at_least_100_versions(store: ConfigStore) -> None:
    store.init(author="t")
    models = ["gpt-4o", "claude-sonnet-4-5"]
    for i in range(205):
        store.set_model("drafting", models[i % 2], author="t")
    entries = store.history(1000)
    assert len(entries) == store.history_limit == 200
    versions = [e["version"] for e in entries]
    assert versions == list(range(206, 6, -1))
    assert store.get_version(7).version == 7
    with pytest.raises(UnknownVersionError, match=r"7\.\.206"):
        store.get_version(6)


def test_two_concurrent_writers_with_the_same_expected_version(store: ConfigStore) -> None:
    store.init(author="t")
    for round_ in range(10):
        expected = store.version()
        outcomes = race(store, expected)
        assert sorted(outcomes) == ["conflict", "won"], f"round {round_}"
        assert store.version() == expected + 1


def race(store: ConfigStore, expected: int) -> list[str]:
    """Two threads write at the same moment, both expecting `expected`."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def writer(model: str) -> None:
        barrier.wait()
        try:
            store.set_model("code_review", model, author=model, expect_version=expected)
            outcomes.append("won")
        except VersionConflictError:
            outcomes.append("conflict")

    # Two models other than the current one: both writes are changes (a write of what is
    # already stored changes nothing and so cannot conflict)
    current = store.read().model_keys["code_review"].model
    models = [m for m in ("gpt-4o", "gemini-2.5-pro", "claude-sonnet-4-5") if m != current][:2]
    threads = [threading.Thread(target=writer, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return outcomes


def test_writers_without_expected_version_lose_no_update(store: ConfigStore) -> None:
    store.init(author="t")
    barrier = threading.Barrier(2)

    def writer(key: str) -> None:
        barrier.wait()
        store.set_model(key, "gpt-4o", author=key)

    threads = [threading.Thread(target=writer, args=(k,)) for k in ("drafting", "lookup")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    cfg = store.read()
    assert cfg.version == 3
    assert cfg.model_keys["drafting"].model == cfg.model_keys["lookup"].model == "gpt-4o"


def test_rollback_restores_routing(store: ConfigStore) -> None:
    store.init(author="t")
    store.set_model("code_review", "gpt-4o", author="t")
    assert Router(store.read()).decide("code_review").model == "gpt-4o"
    cfg = store.rollback(1, author="t")
    assert cfg.version == 3
    assert Router(store.read()).decide("code_review").model == "claude-sonnet-4-6"
    assert store.read().document() == {**store.get_version(1).document(), "version": 3}
    assert store.history(1)[0]["summary"] == "rollback to version 1"
    with pytest.raises(UnknownVersionError):
        store.rollback(99, author="t")


def test_every_write_is_published(store: ConfigStore, redis_client: redis.Redis) -> None:
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(store.channel)
    try:
        store.init(author="t")
        deadline = time.monotonic() + 2
        message = None
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.1)
        assert message is not None and message["data"] == b"1"
    finally:
        pubsub.close()


def test_a_write_equal_to_the_current_config_writes_nothing(
    store: ConfigStore, redis_client: redis.Redis
) -> None:
    store.init(author="t")
    current = store.read()
    events = redis_client.pubsub()
    events.subscribe(store.channel)
    assert events.get_message(timeout=1) is not None  # the subscription itself
    # The same document (also with prices spelled differently), the same model, itself
    doc = current.document()
    doc["models"]["claude-haiku-4-5"]["price"]["input"] = "1.000"
    assert store.write(doc, author="t").version == 1
    assert store.set_model("monitoring", current.model_keys["monitoring"].model,
                           author="t").version == 1
    assert store.rollback(1, author="t", expect_version=1).version == 1
    assert store.version() == 1 and len(store.history()) == 1
    assert events.get_message(timeout=0.2) is None  # no change was announced
    events.close()
    # A stale expected version is still a conflict, change or not
    store.set_model("monitoring", "gpt-4o", author="t")
    with pytest.raises(VersionConflictError):
        store.write(current, author="t", expect_version=1)


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:s3cret@cache:6380/0", "redis://:***@cache:6380/0"),
    ("redis://user:s3cret@cache/0", "redis://user:***@cache/0"),
    ("redis://cache:6379/0", "redis://cache:6379/0"),
    ("redis+cluster://:pw@h1:7000,h2:7001,h3:7002/0", "redis+cluster://:***@h1:7000,h2:7001,h3:7002/0"),
    ("redis+sentinel://:pw@s1:26379,s2:26379/mymaster/0",
     "redis+sentinel://:***@s1:26379,s2:26379/mymaster/0"),
])
def test_a_url_is_shown_without_its_password_whatever_its_hosts(url: str, shown: str) -> None:
    from routing.redis_url import redact_url

    assert redact_url(url) == shown
