"""Work that can wait, end to end on real workers: a batched task waits in its model's
provider batch (acknowledged, reserved at the batch rate), Beat's round submits and polls
the batch through the real SDKs against the test LLM server, and the answer reaches the
task's own id with the fields of a direct call plus `batch_id`, priced at the batch rate
in the ledger and the budgets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from celery import states
from celery.result import AsyncResult

from routing.spend.aggregates import AggregateRow
from routing.spend.budget_names import key_budget
from tests.support.batches import beat_round, set_batch
from tests.support.celery import Session, WorkerProcess
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.batch_sweep import BatchSweeper
from workers.execution.runtime import get_runtime

# (model key, model, provider) of each wire format: the shipped content_curation key
# (Anthropic Message Batches), and strategic_decision moved to gpt-4o with a batch (OpenAI).
CASES = {"anthropic": ("content_curation", "claude-haiku-4-5"),
         "openai": ("strategic_decision", "gpt-4o")}
# Per call of `llm.run(prompt="p0")`: 5 input tokens (1 + 4 per message) and the default
# reply "test reply from <model>" (32 and 22 characters: 8 and 6 output tokens).
# Haiku 1/5 per MTok, GPT-4o 2.5/10, both half price in a batch (rounded half-up):
BATCH_COST = {"anthropic": 23, "openai": 36}  # (5x1 + 8x5)/2 = 22.5; (5x2.5 + 6x10)/2 = 36.25
DIRECT_COST = {"anthropic": 45, "openai": 73}  # 5x1 + 8x5; 5x2.5 + 6x10 = 72.5
# reserved: input at the dearest input rate + max_tokens (1024, 4096) x output, halved,
# rounded up: (5x1.25 + 1024x5)/2 = 2563.125; (5x2.5 + 4096x10)/2 = 20486.25
WORST = {"anthropic": 2564, "openai": 20487}


@pytest.fixture(params=sorted(CASES))
def provider(request: pytest.FixtureRequest, worker: Session) -> Iterator[str]:
    key, model = CASES[request.param]
    if request.param == "openai":
        set_batch(worker, key, model, max_wait_seconds=600)
    yield str(request.param)


def run(session: Session, key: str, prompt: str = "p0") -> AsyncResult:  # type: ignore[type-arg]
    return session.app.send_task("llm.run", kwargs={"model_key": key, "prompt": prompt})


def waiting(model: str) -> int:
    """Calls waiting in `model`'s open batch (the only open one in these tests)."""
    store = get_runtime().batches
    if model not in store.due_models(everything=True):
        return 0
    return store.summary().get("open", (0, 0))[1]


def row(key: str, model: str) -> AggregateRow:
    """Today's ledger row of (key, model), by the Redis server's clock (the ledger's)."""
    rt = get_runtime()
    seconds, _ = rt.redis.time()
    day = datetime.fromtimestamp(int(seconds), UTC).date()
    found = [r for r in rt.ledger.day_aggregates(day).rows
             if (r.model_key, r.model) == (key, model)]
    return found[0] if found else AggregateRow(key, model, "")


def errored(llm_server: LLMServer, status: int) -> int:
    """Which task's request (its prompt "p<n>") the provider answered with `status`."""
    (failed,) = [r for r in llm_server.requests if r.status == status]
    return int(failed.body["messages"][0]["content"][1:])


def budget(key: str) -> Any:
    rt = get_runtime()
    status = {s.budget: s for s in rt.budgets.status(rt.live.get())}
    return status.get(key_budget(key), status["overall"])


def test_a_batched_task_answers_like_a_direct_call_plus_its_batch_id(
    worker: Session, llm_server: LLMServer, provider: str
) -> None:
    key, model = CASES[provider]
    rt = get_runtime()
    before, counted = budget(key), row(key, model)
    # Given two tasks of a key that can wait
    pending = [run(worker, key), run(worker, key, "p1")]
    # Then they wait in their model's open batch, acknowledged, not called, still started
    wait_until(lambda: waiting(model) == 2, what="both calls in the open batch")
    assert all(p.state in (states.PENDING, states.STARTED) for p in pending)
    assert llm_server.requests == []
    # reserved at the batch rate's worst case
    assert budget(key).reserved_micros - before.reserved_micros == 2 * WORST[provider]
    # When Beat's round submits the batch (flush: whatever its age), then polls it
    beat_round(worker.app, flush=True)
    (batch_id,) = llm_server.batches.created()
    beat_round(worker.app)
    results = [p.get(timeout=15) for p in pending]
    # the provider saw the two requests in a batch, none directly
    assert [r.path for r in llm_server.requests] == [
        "/v1/messages/batches" if provider == "anthropic" else "/v1/batches"] * 2
    # Then each task has its answer, with every field of a direct call plus the batch id
    direct = run(worker, "lookup" if provider == "anthropic" else "orchestration").get(
        timeout=15)
    for result in results:
        assert set(result) == set(direct) | {"batch_id"}
        assert result["batch_id"] == batch_id
        assert (result["model_key"], result["model"]) == (key, model)
        assert result["text"] == f"test reply from {model}"
        assert result["cost_micros"] == result["last_call_cost_micros"] == BATCH_COST[provider]
        assert result["attempts"] == 1 and result["queue"] == rt.live.get().tiers[
            result["tier"]].queue
    # and the ledger and the budget charged the batch rate, with the saving
    now = row(key, model)
    assert (now.calls - counted.calls, now.batch_calls - counted.batch_calls) == (2, 2)
    assert now.micros - counted.micros == now.batch_micros - counted.batch_micros == \
        2 * BATCH_COST[provider]
    assert now.batch_saved_micros - counted.batch_saved_micros == \
        2 * (DIRECT_COST[provider] - BATCH_COST[provider])
    after = budget(key)
    assert after.reserved_micros == before.reserved_micros
    assert after.spent_micros - before.spent_micros == 2 * BATCH_COST[provider] + (
        0 if after.budget != "overall" else direct["cost_micros"])


def test_a_full_batch_is_submitted_at_once_and_answered_when_the_provider_is_done(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given batches of at most 3 calls, and a provider that takes its time
    set_batch(worker, "content_curation", max_wait_seconds=3600, max_items=3)
    llm_server.batches.hold()
    # When a third call fills the batch: it is submitted by that worker, with no Beat
    pending = [run(worker, "content_curation", f"p{i}") for i in range(4)]
    wait_until(lambda: len(llm_server.batches.created()) == 1, what="the full batch submitted")
    wait_until(lambda: waiting("claude-haiku-4-5") == 1, what="the fourth in a new batch")
    (batch_id,) = llm_server.batches.created()
    # Then while the provider works on it, Beat's rounds find it in progress
    assert beat_round(worker.app)["results"]["claude-haiku-4-5"] == {
        "model": "claude-haiku-4-5", "in_progress": 1}
    assert all(p.state in (states.PENDING, states.STARTED) for p in pending)
    # and once it is done, the next round delivers its three answers (the fourth waits)
    llm_server.batches.release()
    beat_round(worker.app)
    done = wait_until(lambda: [p for p in pending if p.ready()] if sum(
        p.ready() for p in pending) == 3 else None, what="three answers")
    assert {p.get()["batch_id"] for p in done} == {batch_id}
    (last,) = [p for p in pending if p not in done]
    assert last.state in (states.PENDING, states.STARTED)
    beat_round(worker.app, flush=True)
    assert last.get(timeout=15)["batch_id"] == llm_server.batches.created()[1]


def test_a_batch_is_submitted_once_its_oldest_call_waited_max_wait(
    worker: Session, llm_server: LLMServer
) -> None:
    rt = get_runtime()
    store = rt.batches
    set_batch(worker, "content_curation", max_wait_seconds=120)
    task = run(worker, "content_curation")
    wait_until(lambda: waiting("claude-haiku-4-5") == 1, what="the call in the open batch")
    seconds, micros = rt.redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    due = store.client.zscore(store.due_key, "claude-haiku-4-5")
    assert due is not None and 0 < due - now_ms <= 120_000  # due 2 minutes after it came
    # Before it is due, Beat's round leaves it waiting
    assert beat_round(worker.app)["models"] == []
    assert llm_server.batches.created() == []
    # When its wait is over (the due time moved to now instead of waiting two minutes)
    store.client.zadd(store.due_key, {"claude-haiku-4-5": now_ms})
    # Then the next round submits it, and the one after delivers it
    assert beat_round(worker.app)["models"] == ["claude-haiku-4-5"]
    assert len(llm_server.batches.created()) == 1
    beat_round(worker.app)
    assert task.get(timeout=15)["batch_id"] == llm_server.batches.created()[0]


def test_two_sweepers_at_once_deliver_each_answer_once(
    worker: Session, llm_server: LLMServer
) -> None:
    rt = get_runtime()
    pending = [run(worker, "content_curation", f"p{i}") for i in range(5)]
    wait_until(lambda: waiting("claude-haiku-4-5") == 5, what="five calls waiting")
    llm_server.batches.hold()
    beat_round(worker.app, flush=True)
    llm_server.batches.release()
    counted = row("content_curation", "claude-haiku-4-5")
    # When two sweepers (two workers, or two Beats' rounds) poll the ended batch at once
    published: list[list[dict[str, Any]]] = [[], []]
    start = threading.Barrier(2)
    outcomes: list[dict[str, int]] = [{}, {}]

    def sweep(n: int) -> None:
        def publish(payload: dict[str, Any]) -> None:
            published[n].append(payload)
            worker.app.signature(payload).apply_async()

        start.wait()
        outcomes[n] = BatchSweeper(rt, publish).sweep("claude-haiku-4-5")

    threads = [threading.Thread(target=sweep, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    # Then one of them delivered the five answers, the other nothing
    assert sorted(len(p) for p in published) == [0, 5], outcomes
    assert llm_server.batches.count("GET", r"/results$") == 1
    assert sorted(o.get("delivered_batches", 0) for o in outcomes) == [0, 1]
    results = [p.get(timeout=15) for p in pending]
    assert len({r["task_id"] for r in results}) == 5
    # and the ledger has one call per task
    now = row("content_curation", "claude-haiku-4-5")
    assert now.batch_calls - counted.batch_calls == 5


def test_errored_items_are_tried_again_directly_and_the_rest_answered_from_the_batch(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a batch of three whose first request hits a 500 at the provider
    pending = [run(worker, "content_curation", f"p{i}") for i in range(3)]
    wait_until(lambda: waiting("claude-haiku-4-5") == 3, what="three calls waiting")
    llm_server.server_error(times=1, model="claude-haiku-4-5")
    beat_round(worker.app, flush=True)
    # Then that task is called again directly (after the backoff of a 500), the others
    # take their answer from the batch
    results = [p.get(timeout=15) for p in pending]
    n = errored(llm_server, 500)
    assert "batch_id" not in results[n] and results[n]["attempts"] == 2
    assert [r.get("batch_id") for i, r in enumerate(results) if i != n] == [
        llm_server.batches.created()[0]] * 2
    direct = [r for r in llm_server.requests if r.path == "/v1/messages"]
    assert len(direct) == 1 and direct[0].body["messages"][0]["content"] == f"p{n}"
    # its errored batch call is in the ledger as an error, free
    rt = get_runtime()
    seconds, _ = rt.redis.time()
    calls = [c for c in rt.ledger.calls(datetime.fromtimestamp(int(seconds), UTC).date())
             if c["task_id"] == pending[n].id]
    assert [(c.get("batch_id") is not None, c["outcome"], c["cost_micros"]) for c in calls] == [
        (True, "error", 0), (False, "ok", DIRECT_COST["anthropic"])]
    assert calls[0]["error"] == "TransientError"


def test_with_on_failure_fail_an_errored_item_fails_its_task(
    worker: Session, llm_server: LLMServer
) -> None:
    from workers.errors import BatchFailedError

    set_batch(worker, "content_curation", max_wait_seconds=3600, on_failure="fail")
    pending = [run(worker, "content_curation", f"p{i}") for i in range(2)]
    wait_until(lambda: waiting("claude-haiku-4-5") == 2, what="two calls waiting")
    llm_server.overloaded(times=1, model="claude-haiku-4-5")
    beat_round(worker.app, flush=True)
    n = errored(llm_server, 529)
    with pytest.raises(BatchFailedError, match="on_failure: fail"):
        pending[n].get(timeout=15)
    assert pending[1 - n].get(timeout=15)["batch_id"]
    assert not [r for r in llm_server.requests if r.path == "/v1/messages"]


def test_a_permanent_error_in_a_batch_fails_the_task_as_a_direct_call_would(
    worker: Session, llm_server: LLMServer
) -> None:
    from workers.errors import ProviderRefusedError

    task = run(worker, "content_curation")
    wait_until(lambda: waiting("claude-haiku-4-5") == 1, what="the call waiting")
    llm_server.bad_request(times=1, message="prompt is malformed")
    beat_round(worker.app, flush=True)
    with pytest.raises(ProviderRefusedError, match="prompt is malformed"):
        task.get(timeout=15)


@pytest.mark.parametrize("provider_name", sorted(CASES))
def test_an_expired_batch_falls_back_to_direct_calls(
    worker: Session, llm_server: LLMServer, provider_name: str
) -> None:
    key, model = CASES[provider_name]
    if provider_name == "openai":
        set_batch(worker, key, model, max_wait_seconds=600)
    # Given a batch that expires after answering its first request
    pending = [run(worker, key, f"p{i}") for i in range(3)]
    wait_until(lambda: waiting(model) == 3, what="three calls waiting")
    llm_server.batches.expire_next(after=1)
    beat_round(worker.app, flush=True)
    results = [p.get(timeout=15) for p in pending]
    # Then one answer came from the batch, the other two from direct calls
    (batch_id,) = llm_server.batches.created()
    assert [r["batch_id"] for r in results if "batch_id" in r] == [batch_id]
    for r in (r for r in results if "batch_id" not in r):
        assert r["attempts"] == 2
        assert r["hops"][-1]["kind"] == "direct" and "expired" in r["hops"][-1]["reason"]
        assert r["cost_micros"] == DIRECT_COST[provider_name]
    batched = [r for r in llm_server.requests if "batches" in r.path]
    direct = [r for r in llm_server.requests if "batches" not in r.path]
    assert (len(batched), len(direct)) == (1, 2)


@pytest.mark.parametrize("provider_name", sorted(CASES))
def test_a_batch_the_provider_no_longer_knows_falls_back_to_direct_calls(
    worker: Session, llm_server: LLMServer, provider_name: str
) -> None:
    key, model = CASES[provider_name]
    if provider_name == "openai":
        set_batch(worker, key, model, max_wait_seconds=600)
    before = budget(key).reserved_micros
    # Given two calls in a batch that the provider accepted and still works on
    pending = [run(worker, key, f"p{i}") for i in range(2)]
    wait_until(lambda: waiting(model) == 2, what="two calls waiting")
    llm_server.batches.hold()
    beat_round(worker.app, flush=True)
    assert len(llm_server.batches.created()) == 1
    # When the provider answers the next poll with a 404 (a permanent error: the batch is
    # not found, and asking again cannot help)
    llm_server.batches.fail_retrieve(404)
    polled = beat_round(worker.app)["results"][model]
    # Then that round gives the batch up, and each task is called directly
    assert (polled.get("failed_batches"), polled.get("failed")) == (1, 2), polled
    results = [p.get(timeout=15) for p in pending]
    for r in results:
        assert "batch_id" not in r and r["attempts"] == 2
        assert r["hops"][-1]["kind"] == "direct"
        assert "polling it was refused" in r["hops"][-1]["reason"]
        assert r["cost_micros"] == DIRECT_COST[provider_name]
    assert len([r for r in llm_server.requests if "batches" not in r.path]) == 2
    assert get_runtime().batches.active() == {}
    # and nothing stays reserved for them
    assert budget(key).reserved_micros == before


@pytest.mark.parametrize("trouble", ["polling fails", "still in progress"])
def test_a_batch_not_over_a_day_after_its_submission_is_given_up(
    worker: Session, llm_server: LLMServer, trouble: str
) -> None:
    from workers.execution.batch_policy import POLL_DEADLINE_SECONDS

    store = get_runtime().batches
    task = run(worker, "content_curation")
    wait_until(lambda: waiting("claude-haiku-4-5") == 1, what="the call waiting")
    llm_server.batches.hold()
    beat_round(worker.app, flush=True)
    ((batch_id, _),) = store.active().items()
    # Given a batch whose polls fail with a 500 (worth retrying), or that the provider
    # still reports in progress
    if trouble == "polling fails":
        llm_server.batches.fail_retrieve(500)
    polled = beat_round(worker.app)["results"]["claude-haiku-4-5"]
    assert polled == {"model": "claude-haiku-4-5", **(
        {"poll_errors": 1} if trouble == "polling fails" else {"in_progress": 1})}
    assert task.state in (states.PENDING, states.STARTED)
    # When its submission is longer ago than the providers' 24 hours and half an hour
    # (its stamp moved back instead of waiting a day)
    stamped = store.get(batch_id)
    assert stamped is not None
    store.client.hset(f"{store.prefix}:{batch_id}", "submitted",
                      stamped.submitted - (POLL_DEADLINE_SECONDS + 60) * 1000)
    # Then the next round gives it up, and the task is called directly
    polled = beat_round(worker.app)["results"]["claude-haiku-4-5"]
    assert (polled.get("failed_batches"), polled.get("failed")) == (1, 1), polled
    result = task.get(timeout=15)
    assert "batch_id" not in result and result["hops"][-1]["kind"] == "direct"
    assert "hours after its submission" in result["hops"][-1]["reason"]
    assert store.active() == {}


def test_with_on_failure_fail_an_expired_batch_fails_its_waiting_tasks(
    worker: Session, llm_server: LLMServer
) -> None:
    from workers.errors import BatchFailedError

    set_batch(worker, "content_curation", max_wait_seconds=3600, on_failure="fail")
    task = run(worker, "content_curation")
    wait_until(lambda: waiting("claude-haiku-4-5") == 1, what="the call waiting")
    llm_server.batches.expire_next()
    beat_round(worker.app, flush=True)
    with pytest.raises(BatchFailedError, match="expired"):
        task.get(timeout=15)
    assert [r for r in llm_server.requests] == []


def test_a_worker_killed_after_storing_its_calls_loses_none_of_them(
    isolated_producer: tuple[dict[str, str], Any], worker_processes: list[WorkerProcess],
    llm_server: LLMServer
) -> None:
    env, producer = isolated_producer
    queues = ["llm.haiku", "celery"]
    first = WorkerProcess(env, queues, "batching")
    worker_processes.append(first)
    first.wait_ready()
    # Given three calls stored in the open batch by a worker
    pending = [producer.send_task("llm.run", kwargs={"model_key": "content_curation",
                                                     "prompt": f"p{i}"}) for i in range(3)]
    wait_until(lambda: waiting("claude-haiku-4-5") == 3, what="three calls waiting")
    # When that worker is killed (SIGKILL: no goodbye) and another one starts
    first.kill()
    second = WorkerProcess(env, queues, "after")
    worker_processes.append(second)
    second.wait_ready()
    # Then Beat's rounds, run by the new worker, submit the batch and deliver every answer
    beat_round(producer, flush=True, timeout=30)
    results = [p.get(timeout=30) for p in pending]
    (batch_id,) = llm_server.batches.created()
    assert [r["batch_id"] for r in results] == [batch_id] * 3
    assert {r["task_id"] for r in results} == {p.id for p in pending}
    # each call made once, in the batch
    assert [r.path for r in llm_server.requests] == ["/v1/messages/batches"] * 3


def test_a_submission_cut_short_resumes_without_uploading_again(
    worker: Session, llm_server: LLMServer
) -> None:
    from routing.batches.store import SUBMITTING
    from workers.providers.batch import BatchItem, request_from_json

    key, model = CASES["openai"]
    set_batch(worker, key, model, max_wait_seconds=600)
    rt = get_runtime()
    task = run(worker, key)
    wait_until(lambda: waiting(model) == 1, what="the call waiting")
    # Given a sweeper that closed the batch and uploaded its file, then died (its claim
    # lapses after 50 ms instead of 10 minutes)
    batch = rt.batches.close(model, "dead-sweeper", 0.05, force=True)
    assert batch is not None
    items = [BatchItem(cid, request_from_json(item["request"]))
             for cid, item in rt.batches.items(batch.id).items()]
    api = rt.providers.batches("openai")
    file_id = api.prepare(items, label=batch.id)
    assert rt.batches.update(batch.id, "dead-sweeper", prepared=str(file_id))
    wait_until(lambda: rt.batches.claim(batch.id, "probe", 0.001, (SUBMITTING,)),
               what="the dead sweeper's claim lapsing")
    # When the next rounds find it (one submits, one polls)
    assert beat_round(worker.app)["results"][model]["submitted"] == 1
    beat_round(worker.app)
    # Then it created the batch on the file uploaded before, and the answer came back
    assert llm_server.batches.count("POST", r"/files$") == 1
    assert llm_server.batches.count("POST", r"/batches$") == 1
    assert task.get(timeout=15)["batch_id"] == llm_server.batches.created()[0]
