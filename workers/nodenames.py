"""A node name of its own for each `llm-router worker` process on a host.

Celery addresses a worker by its node name: broadcast replies (ping, inspect, Flower) are
keyed by it, and on RabbitMQ each node holds an exclusive pidbox queue named after it, so a
second worker under the same name dies at start (`ResourceLocked`) and its tier runs one
worker short. The first worker of a tier on a host is `<tier>@<host>` (what the Kubernetes
liveness probe pings and Flower shows), the next ones `<tier>-2@<host>`, `<tier>-3@<host>`,
...: each process holds an advisory lock on a file named after its name and its broker
(names need only differ on one broker: a vhost, a key prefix) for as long as it lives
(released by the kernel however it ends, SIGKILL included), and takes the first name whose
lock is free.

`celery -A workers.app worker` without `-n/--hostname` gets one the same way (a
`celeryd_init` handler, `workers.lifecycle`), named after its first queue: `-Q llm.haiku`
is `haiku@<host>`, then `haiku-2@<host>`; no `-Q` is `celery@<host>`, `celery-2@<host>`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Where the locks live: one directory per user, beside other temporary files.
LOCK_DIR = Path(tempfile.gettempdir()) / f"llm-router-nodes-{os.getuid()}"
MAX_WORKERS_PER_HOST = 1000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class NodeName:
    """A claimed node name; the claim lasts until `release()` or the process's end."""

    name: str
    _lock: IO[bytes] | None = None

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()


def candidates(tier: str, host: str) -> list[str]:
    return [f"{tier}@{host}" if n == 1 else f"{tier}-{n}@{host}"
            for n in range(1, MAX_WORKERS_PER_HOST + 1)]


def claim(tier: str, broker: str, host: str | None = None,
          lock_dir: Path = LOCK_DIR) -> NodeName:
    """The first of `candidates` no live process on this host holds on `broker` (its URL
    and key prefix: only a digest of it is written), now held by this one. Where no lock
    can be taken (a read-only temporary directory), a name made unique by the process id:
    `<tier>-<pid>@<host>`."""
    host = host or socket.gethostname()
    scope = hashlib.sha256(broker.encode()).hexdigest()[:16]
    try:
        lock_dir.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return NodeName(f"{tier}-{os.getpid()}@{host}")
    for name in candidates(tier, host):
        path = lock_dir / f"{scope}-{_UNSAFE.sub('_', name)}.lock"
        try:
            handle = path.open("ab")
        except OSError:
            return NodeName(f"{tier}-{os.getpid()}@{host}")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()  # another live worker's
            continue
        return NodeName(name, handle)
    return NodeName(f"{tier}-{os.getpid()}@{host}")


def given_hostname(args: list[str]) -> bool:
    """Whether celery worker arguments name the node themselves (`-n`, `--hostname`)."""
    for arg in args:
        if arg in ("-n", "--hostname") or arg.startswith("--hostname="):
            return True
        if arg.startswith("-n") and not arg.startswith("--"):
            return True
    return False


def name_for_queues(queues: str | Iterable[str] | None) -> str:
    """The name half for a worker given `queues` (Celery's `-Q` value: a comma-separated
    string or a list): its first queue without the `llm.` prefix; `celery` without one."""
    names = queues.split(",") if isinstance(queues, str) else list(queues or [])
    first = next((q.strip() for q in names if q.strip()), "")
    return _UNSAFE.sub("_", first.removeprefix("llm.")) or "celery"
