"""Beat in subprocesses on a compressed schedule, and the cron sends it leaves in the broker.

`FastRedBeatScheduler` is the production scheduler (`workers.beat`: celery-redbeat, its
lock, its keys under the namespace, the routing Redis) on the production schedule's
entries, each with a short period given in LLM_ROUTER_TEST_BEAT_PERIODS (JSON, entry name
-> seconds) and its expiry scaled with it (the same share of the period as in production),
so that every cron runs several periods in seconds. Tests start it with
`celery -A workers.app beat -S tests.support.beat:FastRedBeatScheduler`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tests.support import process
from workers.beat import Scheduler

ROOT = Path(__file__).resolve().parents[2]
PERIODS_ENV = "LLM_ROUTER_TEST_BEAT_PERIODS"
SCHEDULER = "tests.support.beat:FastRedBeatScheduler"
ACQUIRED = "beat: Acquired lock"
SENDING = "Scheduler: Sending due task"


def fast_schedule(periods: dict[str, float]) -> dict[str, dict[str, Any]]:
    """beat_schedule.SCHEDULE with the given period per entry (every entry needs one) and
    each expiry the same share of its period as in production."""
    from beat_schedule import INTERVALS, SCHEDULE

    assert set(periods) == set(SCHEDULE), f"periods for {sorted(SCHEDULE)} expected"
    fast: dict[str, dict[str, Any]] = {}
    for name, entry in SCHEDULE.items():
        share = entry["options"]["expires"] / INTERVALS[name]
        options = {**entry["options"], "expires": periods[name] * share}
        fast[name] = {**entry, "schedule": periods[name], "options": options}
    return fast


class FastRedBeatScheduler(Scheduler):
    def __init__(self, app: Any, **kwargs: Any) -> None:
        app.conf.beat_schedule = fast_schedule(json.loads(os.environ[PERIODS_ENV]))
        super().__init__(app, **kwargs)


class BeatProcess:
    """`celery -A workers.app beat` in a subprocess with the scaled scheduler."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        self.name = name
        cmd = [sys.executable, "-m", "celery", "-A", "workers.app", "beat",
               "--scheduler", SCHEDULER, "--loglevel", "INFO"]
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,),
                                        daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def holds_lock(self) -> bool:
        return any(ACQUIRED in line for line in self.lines)

    def sent_before_lock(self) -> list[str]:
        """Lines saying it sent a cron before it held the lock (there must be none)."""
        sent = []
        for line in list(self.lines):
            if ACQUIRED in line:
                break
            if SENDING in line:
                sent.append(line)
        return sent

    def output(self) -> str:
        return f"--- beat {self.name} ---\n" + "".join(self.lines[-60:])

    def kill(self) -> None:
        process.kill(self.proc)
        self._close()

    def stop(self) -> None:
        process.stop(self.proc)
        self._close()

    def _close(self) -> None:
        self._reader.join(10)  # the output ends with the process
        if self.proc.stdout is not None and not self._reader.is_alive():
            self.proc.stdout.close()


@dataclass(frozen=True)
class Send:
    """One cron message in the broker: its task and when it was sent (its absolute expiry
    minus the entry's relative one)."""

    task: str
    task_id: str
    expires: datetime


def sends(client: Any, queue_key: str) -> list[Send]:
    """Every message waiting in a broker list (nothing consumes it in these tests)."""
    found = []
    for raw in client.lrange(queue_key, 0, -1):
        headers = json.loads(raw)["headers"]
        found.append(Send(headers["task"], headers["id"],
                          datetime.fromisoformat(headers["expires"])))
    return found
