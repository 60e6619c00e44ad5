"""The config store: versions, history, optimistic concurrency, rollback, change events."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from routing.config.seal import fingerprint
from routing.config.store import ConfigStore
from routing.errors import (
    ConfigError,
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


def test_history_keeps_at_least_100_versions(store: ConfigStore,
                                             redis_client: redis.Redis) -> None:
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
    # each kept version keeps its seal, and only those
    assert sorted(int(v) for v in redis_client.hkeys(store.seals_key)) == list(range(7, 207))


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


def _edit(redis_client: redis.Redis, key: str, field: str | None, change: Any) -> None:
    """Edit a stored document in Redis by hand (as `redis-cli` would), its seal left."""
    raw = redis_client.hget(key, field) if field else redis_client.get(key)
    doc = json.loads(raw)
    change(doc)
    if field:
        redis_client.hset(key, field, json.dumps(doc))
    else:
        redis_client.set(key, json.dumps(doc))


def test_every_write_seals_its_document(store: ConfigStore, redis_client: redis.Redis) -> None:
    store.init(author="t")
    store.set_model("drafting", "gpt-4o", author="t")
    # the seal of the very bytes stored, current and kept
    for raw, seal in [(redis_client.get(store.current_key), redis_client.get(store.seal_key)),
                      (redis_client.hget(store.docs_key, "1"),
                       redis_client.hget(store.seals_key, "1"))]:
        mark = fingerprint()
        assert mark is not None
        assert seal.decode() == hashlib.sha1(mark.encode() + raw).hexdigest()
    assert store._read()[1] is True


def _overpriced(doc: dict[str, Any]) -> None:
    doc["models"]["gpt-4o"]["price"]["input"] = "20000"  # in shape; over the 10,000 bound


def test_a_document_edited_by_hand_is_validated_in_full(
    store: ConfigStore, redis_client: redis.Redis
) -> None:
    store.init(author="t")
    store.set_model("drafting", "gpt-4o", author="t")
    _edit(redis_client, store.current_key, None, _overpriced)
    with pytest.raises(ConfigError) as info:
        store.read()
    ((path, why),) = info.value.problems
    assert path == "" and "the stored config (current)" in why and "is corrupt" in why
    assert "models.gpt-4o.price.input" in why and "check the unit" in why
    # a kept version, the same
    _edit(redis_client, store.docs_key, "1", _overpriced)
    with pytest.raises(ConfigError, match=r"(?s)stored config \(version 1\).*price\.input"):
        store.get_version(1)
    assert store.get_version(2).version == 2


def test_an_unsealed_config_is_validated_and_sealed_by_the_next_write(
    store: ConfigStore, redis_client: redis.Redis
) -> None:
    # written before seals existed, or by an installation that validates differently
    first = store.init(author="t")
    redis_client.delete(store.seal_key, store.seals_key)
    assert store._read() == (first, False)
    assert store.get_version(1) == first
    redis_client.set(store.seal_key, hashlib.sha1(b"another schema" + redis_client.get(
        store.current_key)).hexdigest())
    assert store._read() == (first, False)
    # the same document written again is a new version, under this installation's seal
    again = store.write(first, author="t")
    assert again.version == 2 and store._read() == (again, True)
    entry = store.history(1)[0]
    assert (entry["summary"], entry["changes"]) == ("sealed", [])
    # and once sealed, the same document writes nothing
    assert store.write(first, author="t").version == 2


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
