"""Every process holds the config in memory and learns of a change within a second."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from routing.config.store import ConfigStore
from routing.errors import ConfigNotInitializedError, StoreUnavailableError
from routing.live import LiveConfig
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import wait_until


@pytest.fixture
def store(redis_url: str, namespace: str) -> Iterator[ConfigStore]:
    s = ConfigStore.from_url(redis_url, namespace)
    yield s
    s.redis.close()


@pytest.fixture
def started() -> Iterator[Callable[[LiveConfig], LiveConfig]]:
    lives: list[LiveConfig] = []

    def start(live: LiveConfig) -> LiveConfig:
        lives.append(live)
        return live.start()

    yield start
    for live in lives:
        live.stop()


def test_start_without_redis_refuses_instead_of_using_defaults() -> None:
    live = LiveConfig(ConfigStore.from_url("redis://127.0.0.1:1/0", "nowhere"))
    with pytest.raises(StoreUnavailableError, match="never used silently"):
        live.start()
    with pytest.raises(StoreUnavailableError, match="start"):
        live.get()


def test_start_without_a_stored_config(store: ConfigStore) -> None:
    with pytest.raises(ConfigNotInitializedError):
        LiveConfig(store).start()


def test_decisions_need_no_redis(store: ConfigStore, started: Callable[..., LiveConfig]) -> None:
    store.init(author="t")
    live = started(LiveConfig(store))
    live.stop()

    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("I/O on the hot path")

    store.read = store.version = no_io  # type: ignore[method-assign,assignment]
    for _ in range(1000):
        assert live.router.decide("monitoring").model == "claude-haiku-4-5"
        assert live.get().version == 1


def test_change_made_by_the_cli_in_another_process_is_seen_within_1s(
    env: dict[str, str], store: ConfigStore, started: Callable[..., LiveConfig]
) -> None:
    store.init(author="t")
    live = started(LiveConfig(store))
    subprocess.run(
        [sys.executable, "-m", "cli", "config", "set", "monitoring", "gpt-4o"],
        check=True, capture_output=True, env={**os.environ, **env}, timeout=30,
    )
    assert live.wait_for_version(2, timeout=1.0)
    assert live.router.decide("monitoring").model == "gpt-4o"
    assert live.version == 2


CHILD = textwrap.dedent("""
    import sys
    from routing.live import LiveConfig
    from routing.config.store import ConfigStore
    live = LiveConfig(ConfigStore.from_url(sys.argv[1], sys.argv[2])).start()
    print("ready", live.version, flush=True)
    ok = live.wait_for_version(2, timeout=1.0)
    print("seen", ok, live.router.decide("lookup").model, flush=True)
""")


def test_another_process_holding_live_config_sees_a_write_within_1s(
    store: ConfigStore, redis_url: str, namespace: str
) -> None:
    store.init(author="t")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, redis_url, namespace], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["ready", "1"]
        store.set_model("lookup", "gpt-4o", author="t")
        # the child waits (on the change's event, within 1 s) for the new version
        assert child.stdout.readline().split() == ["seen", "True", "gpt-4o"]
    finally:
        child.wait(timeout=10)


def test_a_missed_message_is_caught_by_polling(
    store: ConfigStore, redis_client: redis.Redis, started: Callable[..., LiveConfig]
) -> None:
    store.init(author="t")
    deaf = ConfigStore(store.redis, store.namespace)
    deaf.channel = f"{store.namespace}:config:nobody-publishes-here"
    live = started(LiveConfig(deaf, poll_seconds=0.2))
    store.set_model("lookup", "gpt-4o", author="t")
    assert live.wait_for_version(2, timeout=1.0)


def test_pub_sub_alone_is_fast(store: ConfigStore, started: Callable[..., LiveConfig]) -> None:
    store.init(author="t")
    live = started(LiveConfig(store, poll_seconds=30))
    time.sleep(0)  # the first version check happens as soon as the thread subscribes
    wait_until(lambda: live._thread is not None and live._thread.is_alive(), 1)
    for version in range(2, 5):
        store.set_model("lookup", ["gpt-4o", "gemini-2.5-pro"][version % 2], author="t")
        assert live.wait_for_version(version, timeout=1.0)
    assert not live.wait_for_version(99, timeout=0.05)


def test_redis_outage_keeps_the_last_good_config_and_recovers(
    store: ConfigStore, namespace: str, redis_url: str,
    started: Callable[..., LiveConfig], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="routing.live")
    store.init(author="t")
    upstream = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    proxy = TcpProxy((upstream["host"], upstream["port"])).start()
    db = int(redis_url.rsplit("/", 1)[1])
    live = started(LiveConfig(ConfigStore.from_url(proxy.url(db), namespace), poll_seconds=0.1))
    try:
        proxy.cut()
        store.set_model("monitoring", "gpt-4o", author="t")  # written while this one is cut off
        wait_until(lambda: any(r.levelname == "WARNING" for r in caplog.records), 3)
        time.sleep(0.5)  # several failed retries: still one warning for the whole outage
        assert live.get().version == 1
        assert live.router.decide("monitoring").model == "claude-haiku-4-5"
        proxy.restore()
        assert live.wait_for_version(2, timeout=3.0)
        assert live.router.decide("monitoring").model == "gpt-4o"
        wait_until(lambda: any("reachable again" in r.message for r in caplog.records), 2)
        assert [r.levelname for r in caplog.records].count("WARNING") == 1
    finally:
        proxy.cut()


FORK = textwrap.dedent("""
    import os, sys
    from routing.live import LiveConfig
    from routing.config.store import ConfigStore
    live = LiveConfig(ConfigStore.from_url(sys.argv[1], sys.argv[2]), poll_seconds=0.2).start()
    pid = os.fork()
    if pid == 0:
        ok = live._thread is not None and live._thread.is_alive()
        ConfigStore.from_url(sys.argv[1], sys.argv[2]).set_model("lookup", "gpt-4o", author="c")
        ok = ok and live.wait_for_version(2, 3.0)
        ok = ok and live.router.decide("lookup").model == "gpt-4o"
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
""")


def test_a_forked_child_restarts_its_watcher(
    store: ConfigStore, redis_url: str, namespace: str
) -> None:
    store.init(author="t")
    done = subprocess.run([sys.executable, "-c", FORK, redis_url, namespace], timeout=30)
    assert done.returncode == 0
