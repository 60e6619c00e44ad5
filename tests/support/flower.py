"""Flower and tier workers as subprocesses, started the way an operator starts them.

    worker = TierWorker(env, "haiku")           # `llm-router worker --tier haiku ...`
    flower = FlowerProcess(env, db=tmp / "flower.db", basic_auth="user:pass")
    flower.wait_ready()
    status, body = flower.get("/api/workers?refresh=1")             # with the credentials
    status, body = flower.get("/api/workers", auth=None)            # without

Flower binds port 0 and reports the port it got in its banner, so there is no race for a
free port. Both read their output in a thread; `output()` returns everything so far.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from cli.flower_cmd import TASK_COLUMNS
from tests.support import process
from tests.support.celery import ROOT

__all__ = ["TASK_COLUMNS"]  # the columns `llm-router flower` shows

_BANNER = re.compile(r"Visit me at http://[^:\s]+:(\d+)")


class _Process:
    """A subprocess whose merged output is collected line by line."""

    def __init__(self, cmd: list[str], env: dict[str, str], ready: re.Pattern[str]) -> None:
        self.lines: list[str] = []
        self.match: re.Match[str] | None = None
        self._ready_pattern = ready
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            if not self._ready.is_set():
                found = self._ready_pattern.search(line)
                if found:
                    self.match = found
                    self._ready.set()

    def wait_ready(self, timeout: float) -> None:
        if not self._ready.wait(timeout):
            code = self.proc.poll()
            raise AssertionError(
                f"{self.proc.args!r} not ready after {timeout:.0f}s (exit code {code}):\n"
                + "".join(self.lines[-40:])
            )

    def output(self) -> str:
        return "".join(self.lines)

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM: a worker's warm shutdown); `stop()` waits for it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20) -> None:
        process.stop(self.proc, timeout)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class TierWorker(_Process):
    """`llm-router worker --tier TIER`: the tier's queue(s), profile and `TIER@host` name.

    Only the concurrency is lowered (a shared test machine); everything else, the hostname
    included, is what the CLI derives from the tier's profile in the stored config.
    """

    def __init__(self, env: dict[str, str], tier: str, *, concurrency: int = 2) -> None:
        self.tier = tier
        cmd = [
            sys.executable, "-m", "cli", "worker", "--tier", tier,
            "--concurrency", str(concurrency), "--loglevel", "INFO",
            "--without-mingle", "--without-gossip",
        ]
        super().__init__(cmd, {**os.environ, **env}, re.compile(r"(\S+@\S+) ready\."))

    @property
    def hostname(self) -> str:
        assert self.match is not None, "worker not ready"
        return self.match.group(1)


class FlowerProcess(_Process):
    """`llm-router flower` (the documented way: `celery -A workers.app flower` with the
    shipped task-list columns) on loopback, basic auth from FLOWER_BASIC_AUTH (as in
    docker-compose), a persistent state database saved every `save_ms` milliseconds."""

    def __init__(self, env: dict[str, str], *, db: Path, basic_auth: str,
                 save_ms: int = 1000, inspect_timeout_ms: int = 3000) -> None:
        self.basic_auth = basic_auth
        self.db = db
        cmd = [
            sys.executable, "-m", "cli", "flower",
            "--address=127.0.0.1", "--port=0",
            "--persistent=True", f"--db={db}", f"--state_save_interval={save_ms}",
            f"--inspect_timeout={inspect_timeout_ms}",
        ]
        full_env = {**os.environ, **env, "FLOWER_BASIC_AUTH": basic_auth}
        full_env.pop("FLOWER_UNAUTHENTICATED_API", None)
        super().__init__(cmd, full_env, _BANNER)

    @property
    def url(self) -> str:
        assert self.match is not None, "flower not ready"
        return f"http://127.0.0.1:{self.match.group(1)}"

    def request(self, path: str, *, auth: str | None = "", method: str = "GET",
                timeout: float = 30) -> tuple[int, str]:
        """(status, body) of one request; `auth` "" means the right credentials, None none,
        anything else those credentials."""
        credentials = self.basic_auth if auth == "" else auth
        headers = {"Accept": "application/json, text/html"}
        if credentials is not None:
            token = base64.b64encode(credentials.encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        data = b"{}" if method == "POST" else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()

    def get(self, path: str, *, auth: str | None = "", timeout: float = 30) -> tuple[int, str]:
        return self.request(path, auth=auth, timeout=timeout)

    def db_files(self) -> list[Path]:
        """The state database's files (dbm backends add suffixes such as .db or .dat)."""
        return sorted(self.db.parent.glob(self.db.name + "*"))


class PlainFlower(_Process):
    """`celery -A workers.app flower` as every Celery user starts it (no wrapper), with the
    FLOWER_* variables given, on loopback."""

    def __init__(self, env: dict[str, str], flower_env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "celery", "-A", "workers.app", "flower",
               "--address=127.0.0.1", "--port=0"]
        full_env = {k: v for k, v in {**os.environ, **env}.items()
                    if not k.startswith("FLOWER_")}
        super().__init__(cmd, {**full_env, **flower_env}, _BANNER)

    @property
    def url(self) -> str:
        assert self.match is not None, "flower not ready"
        return f"http://127.0.0.1:{self.match.group(1)}"

    def status(self, path: str) -> int:
        """The status of an anonymous GET of `path` (redirects not followed)."""
        class _NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(self.url + path, timeout=30) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code
