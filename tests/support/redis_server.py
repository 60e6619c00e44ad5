"""Redis servers a test owns: started on a spare port, shut down and restarted at will,
always stopped at teardown. Never the shared 127.0.0.1:6379 (other runs use it).

    server = redis_servers(appendonly=True)   # fixture: a started server
    server.shutdown()                         # SHUTDOWN NOSAVE: gone, like a crash
    server.start()                            # same port, same directory: AOF reloaded
    server.start(empty=True)                  # same port, a new directory: no data
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.wait import wait_until


def _spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """`redis-server` as a subprocess of the test (--daemonize no), on 127.0.0.1."""

    def __init__(self, root: Path, *, appendonly: bool) -> None:
        self.root = root
        self.appendonly = appendonly
        self.port = _spare_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._generation = 0

    @property
    def dir(self) -> Path:
        return self.root / f"data-{self._generation}"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        # No retries: a SHUTDOWN would be retried against the stopped server for seconds
        return redis.Redis(port=self.port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))

    def start(self, *, empty: bool = False) -> RedisServer:
        """Start (again) on the same port; `empty`: in a new directory, without data."""
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)",
                        pytrace=False)
        if empty:
            self._generation += 1
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes" if self.appendonly else "no",
             "--appendfsync", "always", "--dir", str(self.dir), "--daemonize", "no",
             "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10, interval=0.05,
                   what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def shutdown(self) -> None:
        """SHUTDOWN NOSAVE: the server is gone at once (its AOF, if on, is complete)."""
        client = self.client()
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the reply never comes: the server closed the connection exiting
        finally:
            client.close()
        self.stop()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait(10)


@pytest.fixture
def redis_servers(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """A factory of started Redis servers; each is stopped at teardown, whatever happened."""
    servers: list[RedisServer] = []

    def make(*, appendonly: bool = False) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", appendonly=appendonly)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
