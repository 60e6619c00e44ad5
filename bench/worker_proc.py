"""A Haiku-tier Celery worker in a subprocess: the product's app plus the bare tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from typing import IO

from bench.env import ROOT
from tests.support import process


class Worker:
    """`celery -A workers.app worker -I bench.bare_tasks` on the given queues (threads), or
    the same for another app (`app`, e.g. `bench.plain_app`)."""

    def __init__(self, env: dict[str, str], queues: list[str], *, concurrency: int,
                 prefetch: int, name: str = "haiku", app: str = "workers.app",
                 include: str = "bench.bare_tasks") -> None:
        self.name = f"{name}-{uuid.uuid4().hex[:6]}@bench"
        cmd = [
            sys.executable, "-m", "celery", "-A", app, "worker",
            *(("-I", include) if include else ()),
            "--queues", ",".join(queues), "--pool", "threads",
            "--concurrency", str(concurrency), "--prefetch-multiplier", str(prefetch),
            "--hostname", self.name, "--loglevel", "INFO",
            "--without-mingle", "--without-gossip", "--task-events",
        ]
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the worker process has used so far (all its threads)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            if len(self.lines) < 2000 or "ERROR" in line or "Traceback" in line:
                self.lines.append(line)
            if " ready." in line:
                self._ready.set()

    def wait_ready(self, timeout: float = 60) -> Worker:
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"worker {self.name} not ready:\n{''.join(self.lines[-40:])}")
        return self

    def stop(self) -> None:
        process.stop(self.proc, 30)
