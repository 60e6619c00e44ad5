"""Every model key lands on its tier's queue and model; a live change moves the next task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable

import pytest
from celery import Celery

from routing.config.defaults import default_config
from tests.support.batches import submit_waiting
from tests.support.broker import waiting
from tests.support.celery import HEADER_KEY, Session, WorkerProcess
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until

EXPECTED = DESIGN_ROUTES


def test_every_default_key_is_expected() -> None:
    assert set(EXPECTED) == set(default_config().model_keys)


def test_each_model_key_runs_on_its_tier_queue_and_model(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given the default config and a worker on every queue
    run = worker.app.tasks["llm.run"]
    # When each model key is sent through llm.run
    results = {
        key: run.delay(model_key=key, prompt=f"hello from {key}") for key in EXPECTED
    }
    # (the calls of keys that can wait are in provider batches: Beat's round submits them)
    batched = [k for k, s in default_config().model_keys.items() if s.batch is not None]
    submit_waiting(worker.app, len(batched))
    # Then each ran on its tier's queue (as delivered) and on its model
    for key, pending in results.items():
        out = pending.get(timeout=30)
        model, queue = EXPECTED[key]
        assert (out["model"], out["queue"], out["model_key"]) == (model, queue, key)
        assert out["tier"] == queue.removeprefix("llm.")
        assert out["attempts"] == 1 and out["rule"] == "default"
        assert out["usage"]["input_tokens"] > 0 and out["cost_usd"] > 0
    seen = sorted(r.model for r in llm_server.requests)
    assert seen == sorted(model for model, _ in EXPECTED.values())


def test_large_input_for_code_review_goes_to_kimi(worker: Session, llm_server: LLMServer) -> None:
    # Given a code review whose prompt is estimated at >= 50,000 tokens (4 chars/token)
    prompt = "x" * (50_000 * 4)
    out = worker.app.tasks["llm.run"].delay(model_key="code_review", prompt=prompt).get(30)
    # Then the rule sent it to Kimi's queue
    assert (out["model"], out["queue"], out["rule"]) == (
        "kimi-for-coding", "llm.kimi", "large_context_to_kimi"
    )


def test_live_config_change_moves_the_next_task(worker: Session, llm_server: LLMServer) -> None:
    run = worker.app.tasks["llm.run"]
    before = run.delay(model_key="classification", prompt="first").get(timeout=30)
    assert before["model"] == "claude-haiku-4-5"
    # When an operator routes classification to Sonnet 4.5 (no restart)
    from workers.execution.runtime import get_runtime

    cfg = worker.store.set_model("classification", "claude-sonnet-4-5", author="ops")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=2)
    after = run.delay(model_key="classification", prompt="second").get(timeout=30)
    # Then the next task runs on the new model and its tier's queue
    assert (after["model"], after["queue"]) == ("claude-sonnet-4-5", "llm.sonnet")
    assert after["config_version"] == cfg.version
    assert [r.model for r in llm_server.requests] == ["claude-haiku-4-5", "claude-sonnet-4-5"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": "no key"}, "model_key"),
        ({"model_key": "no_such_key", "prompt": "x"}, "model_key"),
        ({"model_key": "lookup", "prompt": "   "}, "prompt"),
        ({"model_key": "lookup", "prompt": "x", "max_tokens": "many"}, "max_tokens"),
        ({"model_key": "lookup", "prompt": "x" * (1_100_000 * 4)}, "context window"),
    ],
)
def test_bad_input_fails_at_once_naming_the_field(
    worker: Session, llm_server: LLMServer, kwargs: dict[str, object], field: str
) -> None:
    run = worker.app.tasks["llm.run"]
    pending = run.delay(**kwargs)
    with pytest.raises(Exception) as info:
        pending.get(timeout=30)
    assert field in str(info.value)
    assert llm_server.requests == []
    # And the worker stays up: the next task runs
    assert run.delay(model_key="lookup", prompt="still there?").get(timeout=30)["text"]


def test_a_model_removed_since_routing_is_routed_again(
    worker: Session, llm_server: LLMServer
) -> None:
    from workers.execution.route_seal import seal
    from workers.execution.route_state import ROUTE_HEADER
    from workers.execution.runtime import get_runtime

    # Given a message routed under an older config to a model that no longer exists
    current = get_runtime().live.version
    stale = {
        "model_key": "lookup", "route_key": "lookup", "model": "claude-haiku-3",
        "tier": "haiku", "queue": "llm.haiku", "rule": "default",
        "config_version": max(0, current - 1),
    }
    run = worker.app.tasks["llm.run"]
    task_id = f"stale-{uuid.uuid4()}"  # (sealed for it, as this deployment's router seals)
    pending = run.apply_async(
        kwargs={"model_key": "lookup", "prompt": "q"},
        queue="llm.haiku", task_id=task_id,
        headers={ROUTE_HEADER: seal(stale, task_id, HEADER_KEY.encode())},
    )
    out = pending.get(timeout=30)
    # Then the worker routed it again with the current config, and says so
    assert out["rerouted"] is True
    assert (out["model"], out["queue"]) == DESIGN_ROUTES["lookup"]
    assert out["config_version"] == current


def test_an_explicit_queue_of_another_tier_is_overridden_by_the_routing(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a worker on every queue, and a Haiku key sent to the Opus queue explicitly
    model, queue = EXPECTED["lookup"]
    opus_queue = EXPECTED["strategic_decision"][1]
    out = worker.app.tasks["llm.run"].apply_async(
        kwargs={"model_key": "lookup", "prompt": "q"}, queue=opus_queue).get(timeout=30)
    # Then the routing config wins: it ran on its own tier's queue, and the result says so
    assert (out["model"], out["tier"], out["queue"]) == (model, queue.removeprefix("llm."),
                                                         queue)
    assert [r.model for r in llm_server.requests] == [model]


def test_a_task_sent_to_another_tiers_worker_is_forwarded_to_its_own(
    isolated_producer: tuple[dict[str, str], Celery], llm_server: LLMServer,
    worker_processes: list[WorkerProcess],
) -> None:
    env, producer = isolated_producer
    # Given one worker on the Opus queue and one on the Haiku queue (separate processes)
    model, queue = EXPECTED["lookup"]
    opus_queue = EXPECTED["strategic_decision"][1]
    opus = WorkerProcess(env, [opus_queue], "opus")
    haiku = WorkerProcess(env, [queue], "haiku")
    worker_processes += [opus, haiku]
    opus.wait_ready()
    haiku.wait_ready()
    # When a producer sends a Haiku key to the Opus queue explicitly
    sent = producer.send_task("llm.run", kwargs={"model_key": "lookup", "prompt": "q"},
                              queue=opus_queue)
    out = sent.get(timeout=30)
    # Then the Opus worker forwarded it (same task id), and the Haiku worker ran it
    assert (out["model"], out["queue"], out["task_id"]) == (model, queue, sent.id)
    wait_until(lambda: f"task {sent.id}: forward to {model}" in opus.output(), timeout=10,
               what="the forward in the Opus worker's log")
    wait_until(lambda: f"llm.run[{sent.id}] succeeded" in haiku.output(), timeout=10,
               what="the task's success in the Haiku worker's log")
    assert f"llm.run[{sent.id}] succeeded" not in opus.output()
    assert [r.model for r in llm_server.requests] == [model]


def test_crons_hand_their_work_to_the_typed_tasks(worker: Session, llm_server: LLMServer) -> None:
    import json

    from celery.result import AsyncResult

    llm_server.set_reply(json.dumps({"status": "ok", "summary": "all quiet", "alerts": []}))
    started = worker.app.send_task("cron.monitoring").get(timeout=30)
    out = AsyncResult(started["task_id"], app=worker.app).get(timeout=30)
    assert out["model_key"] == "monitoring" and out["output"]["status"] == "ok"
    (request,) = llm_server.requests
    observations = request.body["messages"][0]["content"]
    assert "llm.haiku" in observations and "budget overall" in observations
    # The curation cron makes no call when there is nothing to curate
    skipped = worker.app.send_task("cron.content_curation").get(timeout=30)
    assert "empty" in skipped["skipped"] and len(llm_server.requests) == 1
    # The daily cost report is stored and summarized
    report = worker.app.send_task("cron.cost_report").get(timeout=30)
    assert report["summary"]
    review = worker.app.send_task("cron.routing_review").get(timeout=30)
    assert "calls" in review["summary"]


def test_a_producer_importing_only_the_app_routes_at_send_time(
    own_broker: Callable[[], dict[str, str]],
) -> None:
    # Given a producer process that imports workers.app alone (not the task modules), on
    # a broker no worker consumes
    env = own_broker()
    probe = (
        "import json, sys\n"
        "from workers.app import app\n"
        "r = app.send_task('llm.run', kwargs={'model_key': 'lookup', 'prompt': 'hi'})\n"
        "print(json.dumps({'id': r.id, 'tasks': sorted(m for m in sys.modules\n"
        "                  if m == 'tasks' or m.startswith('tasks.'))}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    # Then no task module was loaded, and the message is on the Haiku queue with the
    # routing decision in its header (not on the default queue for a detour)
    assert sent["tasks"] == []
    model, queue = DESIGN_ROUTES["lookup"]
    assert waiting(env, "celery") == []
    (message,) = waiting(env, queue)
    assert message["headers"]["id"] == sent["id"]
    route = message["headers"]["llmr_route"]
    assert (route["model"], route["queue"], route["model_key"]) == (model, queue, "lookup")
