"""`llm-router worker` exits with the status of `celery worker`, so that a supervisor that
restarts on failure sees a failed worker (it used to exit 0 whatever happened)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.celery import ROOT


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_a_worker_that_fails_at_start_exits_with_celerys_status(
    own_broker: Callable[[], dict[str, str]], tmp_path: Path
) -> None:
    # Given a pid file naming a live process (this one): Celery refuses to start
    pidfile = tmp_path / "worker.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    env = own_broker()
    # When the worker starts, from llm-router and from celery
    ours = run(env, "-m", "cli", "worker", "--tier", "haiku", "--pidfile", str(pidfile))
    theirs = run(env, "-m", "celery", "-A", "workers.app", "worker", "--pidfile", str(pidfile))
    # Then both exit with Celery's status (EX_CANTCREAT), not 0
    assert "Pidfile" in ours.stderr + ours.stdout
    assert theirs.returncode == 73, theirs.stderr[-2000:]
    assert ours.returncode == theirs.returncode, ours.stderr[-2000:]


def test_a_warm_shutdown_exits_0(own_broker: Callable[[], dict[str, str]]) -> None:
    env = own_broker()
    prefix = env["LLM_ROUTER_BROKER_PREFIX"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker", "--tier", "haiku", "--loglevel", "INFO",
         "--without-mingle", "--without-gossip", "--hostname", f"exit-{prefix[-7:-1]}@localhost"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        # Given a running worker
        for line in proc.stdout:
            lines.append(line)
            if " ready." in line:
                break
        assert proc.poll() is None, "".join(lines)
        # When it is asked to stop (SIGTERM: warm shutdown)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        # Then it exits 0
        assert proc.returncode == 0, "".join(lines) + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
