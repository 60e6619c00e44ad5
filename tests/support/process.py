"""Stopping a process the tests (or the bench) started: politely, then for sure."""

from __future__ import annotations

import signal
import subprocess


def stop(proc: subprocess.Popen[str], timeout: float = 20) -> None:
    """SIGTERM (a Celery process's warm shutdown), wait up to `timeout` seconds, then
    SIGKILL; returns once the process is gone."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill(proc)


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL (a crash, an OOM kill); returns once the process is gone."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
