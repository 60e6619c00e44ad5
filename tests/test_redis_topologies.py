"""LLM_ROUTER_REDIS_URL on a Redis Cluster and behind Sentinel: the CLI, the live config
(pub/sub) and the spend scripts work there as on one server. (The store, ledger and budget
test modules also run whole on the cluster: see tests/support/redis_topologies.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from routing.config.defaults import default_config
from routing.config.store import ConfigStore
from routing.connect import connect
from routing.errors import RedisUrlError
from routing.keys import keyspace
from routing.live import LiveConfig
from routing.prices.pricing import Usage
from routing.spend.budget import BudgetBook
from routing.spend.call_record import CallRecord
from routing.spend.ledger import Ledger


@pytest.fixture(params=["cluster", "sentinel"])
def topology_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url: str = request.getfixturevalue(f"redis_{request.param}_url")
    yield url


@pytest.fixture
def topology_namespace(topology_url: str) -> Iterator[str]:
    namespace = f"llmr-topo-{uuid.uuid4().hex[:8]}"
    yield namespace
    client = connect(topology_url)
    for key in client.scan_iter(match=f"{keyspace(namespace)}:*"):
        client.delete(key)
    client.close()


def cli(url: str, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLM_ROUTER_REDIS_URL": url, "LLM_ROUTER_NAMESPACE": namespace}
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_cli_stores_and_routes_through_the_url(
    topology_url: str, topology_namespace: str
) -> None:
    assert cli(topology_url, topology_namespace, "config", "init").returncode == 0
    done = cli(topology_url, topology_namespace, "config", "set", "lookup",
               "claude-sonnet-4-6", "--json")
    assert done.returncode == 0, done.stderr
    routed = json.loads(cli(topology_url, topology_namespace, "route", "lookup",
                            "--json").stdout)
    assert (routed["model"], routed["config_version"]) == ("claude-sonnet-4-6", 2)


def test_live_config_follows_writes_and_spend_is_recorded(
    topology_url: str, topology_namespace: str
) -> None:
    client = connect(topology_url)
    store = ConfigStore(client, topology_namespace)
    store.init(author="t")
    with LiveConfig(ConfigStore(connect(topology_url), topology_namespace)) as live:
        written = store.set_model("lookup", "claude-sonnet-4-6", author="t")
        assert live.wait_for_version(written.version, timeout=5)
    cfg = default_config()
    book = BudgetBook(client, topology_namespace)
    ledger = Ledger(client, topology_namespace)
    book.reserve(cfg, "lookup", "t:0:run", 500, owner="t", model="claude-haiku-4-5",
                 tier="haiku")
    ledger.settle(CallRecord("t", "t:0:run", "lookup", "claude-haiku-4-5", "haiku",
                             Usage(100, 10), 120))
    (overall, *_) = book.status(cfg)
    assert (overall.spent_micros, overall.reserved_micros) == (120, 0)
    client.close()


@pytest.mark.parametrize(("url", "problem"), [
    ("redis+sentinel://127.0.0.1:26379", "names the service"),
    ("redis+cluster://", "names no host"),
])
def test_a_malformed_topology_url_is_named(url: str, problem: str) -> None:
    named = re.escape(f"LLM_ROUTER_REDIS_URL={url!r}: ")
    with pytest.raises(RedisUrlError, match=f"{named}.*{problem}"):
        connect(url)


@pytest.mark.parametrize("url", ["redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001",
                                 "redis+sentinel://127.0.0.1:26379/mymaster/0"])
def test_a_topology_url_needs_a_broker_and_backend_of_its_own(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routing.config.defaults import default_config
    from workers.celery_config import celery_config
    from workers.errors import BrokerURLError
    from workers.settings import Settings

    monkeypatch.setenv("LLM_ROUTER_REDIS_URL", url)
    monkeypatch.delenv("LLM_ROUTER_BROKER_URL", raising=False)
    monkeypatch.delenv("LLM_ROUTER_RESULT_BACKEND", raising=False)
    # The CLI's settings load (it needs no broker); Celery's configuration is refused,
    # naming what to set (and no password)
    with pytest.raises(BrokerURLError, match="set LLM_ROUTER_BROKER_URL and "
                                             "LLM_ROUTER_RESULT_BACKEND") as refused:
        celery_config(Settings(), default_config())
    assert "pw" not in str(refused.value)
    monkeypatch.setenv("LLM_ROUTER_BROKER_URL", "redis://127.0.0.1:6379/0")
    with pytest.raises(BrokerURLError, match="set LLM_ROUTER_RESULT_BACKEND \\("):
        celery_config(Settings(), default_config())
    monkeypatch.setenv("LLM_ROUTER_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
    conf = celery_config(Settings(), default_config())
    assert conf["broker_url"] == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(("scheme", "tls"), [("redis+sentinel", False),
                                              ("rediss+sentinel", True)])
def test_rediss_sentinel_speaks_tls_to_the_sentinels_and_the_master(
    scheme: str, tls: bool
) -> None:
    from redis.connection import SSLConnection

    # built without connecting (nothing listens on port 1)
    client = connect(f"{scheme}://127.0.0.1:1,127.0.0.1:2/mymaster/0")
    pool: Any = client.connection_pool
    sentinels = pool.sentinel_manager.sentinels
    assert len(sentinels) == 2
    for sentinel in sentinels:
        assert (sentinel.connection_pool.connection_class is SSLConnection) == tls
    assert issubclass(pool.connection_class, SSLConnection) == tls
