"""A foreign app's task (sent by name to the default queue) for a tier with no worker: the
dispatcher forwards it to that tier's queue, where it waits; its state says `QUEUED` (with
the queue), not `STARTED` as it used to while nothing ran it, and `llm-router tiers` flags
the queue with work and no consumer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult
from prometheus_client.parser import text_string_to_metric_families

from tests.support.broker import waiting
from tests.support.celery import ROOT, WorkerProcess, foreign_app
from tests.support.wait import wait_until

pytestmark = pytest.mark.one_broker


def test_a_forwarded_task_waiting_for_a_tier_without_worker_is_queued_not_started(
    isolated_producer: tuple[dict[str, str], Celery], worker_processes: list[WorkerProcess]
) -> None:
    env, _ = isolated_producer
    # Given the dispatch tier's worker only (Haiku + the default queue): no Opus worker
    dispatcher = WorkerProcess(env, ["llm.haiku", "celery"], "dispatcher")
    worker_processes.append(dispatcher)
    dispatcher.wait_ready()
    app = foreign_app(env)
    try:
        # When a foreign app sends Opus work by name
        sent = app.send_task("llm.run", kwargs={"model_key": "strategic_decision",
                                                "prompt": "p"})
        # Then it is forwarded to llm.opus and waits there...
        wait_until(lambda: [m for m in waiting(env, "llm.opus")
                            if m["headers"].get("id") == sent.id],
                   timeout=30, what="the task waiting in llm.opus")
        # ...and its state says so, naming the queue
        result: AsyncResult[Any] = AsyncResult(sent.id, app=app)
        state: str = result.state  # (a custom state: Celery's types list its own only)
        assert state == "QUEUED", state
        assert isinstance(result.info, dict) and result.info["queue"] == "llm.opus"
    finally:
        app.close()


def test_tiers_shows_a_queue_with_work_and_no_consumer(
    isolated_producer: tuple[dict[str, str], Celery], worker_processes: list[WorkerProcess]
) -> None:
    env, _ = isolated_producer
    dispatcher = WorkerProcess(env, ["llm.haiku", "celery"], "dispatcher")
    worker_processes.append(dispatcher)
    dispatcher.wait_ready()
    # Given nothing waiting: every queue with work has a consumer, exit 0
    calm = _tiers(env)
    assert calm.returncode == 0, calm.stderr
    assert set(_stranded_metric(env).values()) == {0}
    rows = {(r["tier"], r["queue"]): r for r in json.loads(calm.stdout)["tiers"]}
    assert rows[("haiku", "llm.haiku")]["consumers"] == [dispatcher.name]
    assert rows[("opus", "llm.opus")]["consumers"] == []
    # When Opus work is forwarded to llm.opus, where no worker listens
    app = foreign_app(env)
    try:
        sent = app.send_task("llm.run", kwargs={"model_key": "strategic_decision",
                                                "prompt": "p"})
        wait_until(lambda: [m for m in waiting(env, "llm.opus")
                            if m["headers"].get("id") == sent.id],
                   timeout=30, what="the task waiting in llm.opus")
    finally:
        app.close()
    # Then `llm-router tiers` flags it, and exits 4
    found = _tiers(env)
    assert found.returncode == 4, found.stderr
    stranded = [r for r in json.loads(found.stdout)["tiers"] if r["stranded"]]
    assert [(r["tier"], r["queue"], r["waiting"]) for r in stranded] == [("opus", "llm.opus", 1)]
    text = subprocess.run([sys.executable, "-m", "cli", "tiers"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)
    flagged = [line.split()[:3] for line in text.stdout.splitlines() if "STRANDED" in line]
    assert flagged == [["opus", "llm.opus", "1"]], text.stdout
    # ...and so does the metric: 1 for that queue alone
    metric = _stranded_metric(env)
    assert {k for k, v in metric.items() if v} == {("opus", "llm.opus")}, metric
    assert metric[("haiku", "llm.haiku")] == 0


def _stranded_metric(env: dict[str, str]) -> dict[tuple[str, str], float]:
    """llm_router_queue_stranded of `llm-router metrics --once`: (tier, queue) -> value."""
    done = subprocess.run([sys.executable, "-m", "cli", "metrics", "--once"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(done.stdout):
        if family.name == "llm_router_queue_stranded":
            for sample in family.samples:
                found[(sample.labels["tier"], sample.labels["queue"])] = sample.value
    assert found, done.stdout
    return found


def _tiers(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "tiers", "--json", "--timeout", "2"],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)
