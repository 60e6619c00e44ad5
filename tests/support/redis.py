"""Real-Redis fixtures: each test gets its own namespace and cleans only its own keys.

Redis is always running here (127.0.0.1:6379). If it is not, the run fails with the
command that starts it; it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from routing.connect import connect
from routing.keys import keyspace

START_REDIS = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
# Tests use their own database so that they never touch a deployment's keys in db 0.
TEST_REDIS_URL = os.environ.get("LLM_ROUTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")


def delete_namespace(url: str, namespace: str) -> None:
    """Delete a test namespace's keys: its routing keys (`{ns}:...`, the hash tag of
    `routing.keys`) and its broker keys (the `ns:broker:` prefix tests give kombu)."""
    delete_matching(url, f"{keyspace(namespace)}:*")
    delete_matching(url, f"{namespace}:*")


def delete_matching(url: str, pattern: str) -> None:
    """Delete the keys matching `pattern` (a test's own namespace or prefix), nothing else."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not answering at {TEST_REDIS_URL} ({exc}); start it with:\n"
                    f"  {START_REDIS}", pytrace=False)
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A fresh LLM_ROUTER_NAMESPACE; its keys are deleted afterwards (and only those)."""
    ns = f"llmr-test-{uuid.uuid4().hex[:10]}"
    yield ns
    delete_namespace(redis_url, ns)


@pytest.fixture
def redis_client(request: pytest.FixtureRequest, redis_url: str,
                 namespace: str) -> Iterator[redis.Redis]:
    """A client of the shared test server; with the param "cluster" (the modules of
    `tests.support.redis_topologies.ON_CLUSTER_TOO`), of a three-master Redis Cluster."""
    if getattr(request, "param", "server") == "cluster":
        client = connect(request.getfixturevalue("redis_cluster_url"))
        yield client
        for key in client.scan_iter(match=f"{keyspace(namespace)}:*"):
            client.delete(key)
        client.close()
        return
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, namespace: str
) -> Iterator[dict[str, str]]:
    """Environment of a test process (and of the subprocesses it starts)."""
    from workers.settings import get_settings

    values = {
        "LLM_ROUTER_REDIS_URL": redis_url,
        "LLM_ROUTER_NAMESPACE": namespace,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield values
    # Forget these settings too: monkeypatch restores the environment right after this,
    # and the next reader must see that environment, not this test's namespace.
    get_settings.cache_clear()
