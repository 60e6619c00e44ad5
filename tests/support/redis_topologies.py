"""Real Redis topologies for the tests that must hold beyond one server: a three-master
Redis Cluster and a Sentinel-watched master, started on free loopback ports of their own
for the session (never the shared 127.0.0.1:6379), and shut down after it.

The store, ledger, budget, batch, cooldown, curation inbox and deferral tests run once on
the shared server and once on the cluster
(`pytest_generate_tests`); their `redis_client` is then a `RedisCluster`.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

# Test modules whose `redis_client` tests run on the shared server and on the cluster.
ON_CLUSTER_TOO = {"tests.test_store", "tests.test_ledger", "tests.test_budget",
                  "tests.test_batch_store", "tests.test_cooldown", "tests.test_curation_inbox",
                  "tests.test_deferred_store", "tests.test_run_ledger"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000, at most 65535) is free too."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        if _free(port) and _free(port + 10000):
            return port
    raise AssertionError("no free port pair for a cluster node")


def _server(port: int, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _wait(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not up within {timeout:g}s")
        time.sleep(0.05)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis+cluster://` of a three-master cluster (no replicas) on free ports."""
    base = tmp_path_factory.mktemp("redis-cluster")
    ports = [free_cluster_port() for _ in range(3)]
    procs = [_server(p, base / str(p), "--cluster-enabled", "yes",
                     "--cluster-config-file", f"nodes-{p}.conf",
                     "--cluster-node-timeout", "5000") for p in ports]
    try:
        for p in ports:
            _wait(lambda p=p: _answers(p), f"cluster node {p}")
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr

        def ok() -> bool:
            return all(b"cluster_state:ok" in redis.Redis(port=p).execute_command(
                "CLUSTER", "INFO") for p in ports)

        _wait(ok, "cluster state ok")
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)
    finally:
        _stop(procs)


@pytest.fixture(scope="session")
def redis_sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis+sentinel://` of a master watched by one Sentinel, on free ports."""
    base = tmp_path_factory.mktemp("redis-sentinel")
    master, sentinel = free_port(), free_port()
    conf = base / "sentinel.conf"
    conf.write_text(f"port {sentinel}\nbind 127.0.0.1\n"
                    f"sentinel monitor llmr-test 127.0.0.1 {master} 1\n")
    procs = [_server(master, base / "master")]
    try:
        _wait(lambda: _answers(master), "sentinel's master")
        procs.append(subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def watching() -> bool:
            try:
                found = redis.Redis(port=sentinel).execute_command(
                    "SENTINEL", "get-master-addr-by-name", "llmr-test")
            except redis.RedisError:
                return False
            return bool(found)

        _wait(watching, "sentinel watching the master")
        yield f"redis+sentinel://127.0.0.1:{sentinel}/llmr-test/0"
    finally:
        _stop(procs)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_client" in metafunc.fixturenames and metafunc.module.__name__ in ON_CLUSTER_TOO:
        metafunc.parametrize("redis_client", ["server", "cluster"], indirect=True)

