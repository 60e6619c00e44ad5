"""`llm-router batches list|cancel` against the test LLM server's batch APIs: the batches
llm-router tracks, the orphans at the providers, canceling either, refusing an unknown id."""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult

from tests.support.batches import beat_round, set_batch
from tests.support.celery import Session
from tests.support.cli import as_json, run
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.contract import Message
from workers.execution.runtime import get_runtime
from workers.providers.base import CompletionRequest
from workers.providers.batch import BatchItem

KEY, MODEL = "strategic_decision", "gpt-4o"


def waiting_task(session: Session) -> AsyncResult:  # type: ignore[type-arg]
    set_batch(session, KEY, MODEL, max_wait_seconds=3600)
    task = session.app.send_task("llm.run", kwargs={"model_key": KEY, "prompt": "p0"})
    store = get_runtime().batches
    wait_until(lambda: store.summary().get("open", (0, 0))[1] == 1, what="the call waiting")
    return task


def orphan(provider: str, label: str) -> str:
    """A batch created at `provider` that no record holds (as a lost create leaves it)."""
    api = get_runtime().providers.batches(provider)
    items = [BatchItem("orphan-0", CompletionRequest(
        model="m", messages=(Message("user", "hi"),), max_tokens=8))]
    return api.create(items, api.prepare(items, label=label), label=label)


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def test_list_shows_tracked_batches_and_orphans_and_cancel_stops_them(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a batch at its provider (held in progress), and a batch at each provider
    # that no record holds
    llm_server.batches.hold()
    task = waiting_task(worker)
    beat_round(worker.app, flush=True)
    (provider_batch,) = llm_server.batches.created()
    lost_openai = orphan("openai", "b-lost")
    lost_anthropic = orphan("anthropic", "b-lost")
    # When listing
    listed = as_json("batches", "list")
    # Then the tracked batch shows with its provider's id, submission id and status
    (tracked,) = [b for b in listed["batches"] if b["provider_batch"] == provider_batch]
    assert (tracked["provider"], tracked["model"], tracked["requests"], tracked["status"]) == (
        "openai", MODEL, 1, "submitted")
    assert tracked["submission"] == tracked["id"] and tracked["age_seconds"] >= 0
    # and the orphans too (OpenAI's by its llm-router label; Anthropic's carries none)
    orphans = by_id(listed["orphans"])
    assert set(orphans) == {lost_openai, lost_anthropic}
    assert orphans[lost_openai]["submission"] == "b-lost"
    assert orphans[lost_openai]["llm_router"] is True
    assert orphans[lost_anthropic]["llm_router"] is None
    text = run("batches", "list").stdout
    assert tracked["id"] in text and f"llm-router batches cancel {lost_openai}" in text
    # When canceling the orphan, then the tracked batch (by llm-router's id)
    assert as_json("batches", "cancel", lost_openai)["canceled"] == lost_openai
    out = as_json("batches", "cancel", tracked["id"])
    assert (out["canceled"], out["batch"]) == (provider_batch, tracked["id"])
    # Then the provider bills neither, and the record says so
    assert llm_server.batches.live() == [lost_anthropic]
    assert by_id(as_json("batches", "list")["batches"])[tracked["id"]]["status"] == "canceled"
    # and the next sweep delivers the task's call as the provider reports it (the test
    # server ran every request before the cancel: answered from the batch)
    beat_round(worker.app)
    assert task.get(timeout=20)["model"] == MODEL
    # and a batch that is over is not canceled again (nothing to act on: exit 1)
    assert "it is over" in run("batches", "cancel", tracked["id"], code=1).stderr


def test_cancel_refuses_an_unknown_id(worker: Session, llm_server: LLMServer) -> None:
    result = run("batches", "cancel", "b-0000000000000000", code=2)
    assert result.stderr.strip().count("\n") == 0
    assert "b-0000000000000000: unknown" in result.stderr
    assert as_json_error("batches", "cancel", "batch_nope")["exit_code"] == 2


def as_json_error(*args: str) -> Any:
    import json

    return json.loads(run(*args, "--json", code=2).stdout)


def test_list_without_redis_fails_with_one_line() -> None:
    import json
    import os
    import socket
    import subprocess
    import sys

    from tests.support.celery import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LLM_ROUTER_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    proc = subprocess.run([sys.executable, "-m", "cli", "batches", "list", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == 1
    assert proc.stderr.strip().count("\n") == 0 and "Redis at" in proc.stderr
