"""`llm-router worker` exits with the status of `celery worker`, so that a supervisor that
restarts on failure sees a failed worker (it used to exit 0 whatever happened)."""

from __future__ import annotations

import os
import re
import signal
import socket
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


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _errors(out: str) -> list[str]:
    return [line for line in out.splitlines()
            if re.search(r"(CRITICAL|ERROR)/|^Error|Traceback", line)]


def test_a_worker_that_cannot_reach_redis_says_so_in_one_line_and_exits_1(
    own_broker: Callable[[], dict[str, str]],
) -> None:
    # Given Redis unreachable (a closed port), with a prefork pool whose children load the
    # config too
    env = {**own_broker(), "LLM_ROUTER_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    env.pop("LLM_ROUTER_BROKER_URL", None)
    done = run(env, "-m", "celery", "-A", "workers.app", "worker", "--queues", "llm.haiku",
               "--pool", "prefork", "--concurrency", "2")
    out = done.stdout + done.stderr
    # Then one line says what is wrong and what to check, and the worker exits 1
    assert done.returncode == 1, out[-3000:]
    errors = _errors(out)
    assert len(errors) == 1, "\n".join(errors) or out[-3000:]
    assert "cannot reach Redis" in errors[0] and "LLM_ROUTER_REDIS_URL" in errors[0]


def test_a_worker_without_its_keys_says_so_in_one_line(
    own_broker: Callable[[], dict[str, str]],
) -> None:
    # Given a live Haiku worker and no ANTHROPIC_API_KEY (empty means unset)
    env = {**own_broker(), "LLM_ROUTER_PROVIDER_MODE": "live", "ANTHROPIC_API_KEY": ""}
    done = run(env, "-m", "cli", "worker", "--tier", "haiku", "--pool", "threads",
               "--concurrency", "2")
    out = done.stdout + done.stderr
    # Then one line names the variable (how to run without keys: the README), exit 1
    assert done.returncode == 1, out[-3000:]
    errors = _errors(out)
    assert len(errors) == 1, "\n".join(errors) or out[-3000:]
    assert "ANTHROPIC_API_KEY" in errors[0]
