"""A provider batch is paid once: a create the provider accepted but whose answer was lost
(the client timed out), or whose worker died before writing the provider's batch id down,
is found at the provider and adopted, not created again; a duplicate is canceled. Faults
are the test LLM server's: an answer withheld past the client's timeout, listings paged
two batches at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery.result import AsyncResult

from routing.batches.store import SUBMITTING
from tests.support.batches import beat_round, set_batch
from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.batch_sweep import BatchSweeper
from workers.execution.runtime import Runtime, get_runtime
from workers.providers.batch import BatchItem, request_from_json

CASES = {"anthropic": ("content_curation", "claude-haiku-4-5"),
         "openai": ("strategic_decision", "gpt-4o")}
TASKS = 5


@pytest.fixture(params=sorted(CASES))
def provider(request: pytest.FixtureRequest, worker: Session,
             llm_server: LLMServer) -> Iterator[str]:
    key, model = CASES[request.param]
    set_batch(worker, key, model, max_wait_seconds=3600)
    llm_server.batches.page_limit = 2  # the lookups page through the provider's list
    yield str(request.param)


def waiting_tasks(session: Session, key: str, model: str) -> list[AsyncResult]:  # type: ignore[type-arg]
    pending = [session.app.send_task("llm.run", kwargs={"model_key": key, "prompt": f"p{i}"})
               for i in range(TASKS)]
    store = get_runtime().batches
    wait_until(lambda: store.summary().get("open", (0, 0))[1] == TASKS,
               what=f"{TASKS} calls waiting in the open batch of {model}")
    return pending


def impatient_sweeper(session: Session) -> BatchSweeper:
    """A sweeper of this namespace whose provider requests time out after 1 s."""
    rt = get_runtime()
    settings = rt.settings.model_copy(update={"request_timeout": 1.0})
    return BatchSweeper(Runtime(settings, client=rt.redis),
                        lambda p: session.app.signature(p).apply_async())


def billed(llm_server: LLMServer) -> int:
    """Requests the provider ran in batches (each one is billed)."""
    return sum(1 for r in llm_server.requests if r.path in ("/v1/messages/batches",
                                                           "/v1/batches"))


def answered_once(llm_server: LLMServer, pending: list[Any]) -> str:
    (kept,) = llm_server.batches.live()
    results = [p.get(timeout=20) for p in pending]
    assert {r["batch_id"] for r in results} == {kept}
    assert billed(llm_server) == TASKS
    return str(kept)


def test_a_create_whose_answer_is_lost_is_adopted_not_paid_twice(
    worker: Session, llm_server: LLMServer, provider: str
) -> None:
    key, model = CASES[provider]
    pending = waiting_tasks(worker, key, model)
    # Given a provider that accepts the next batch but whose answer never reaches the
    # sweeper (held 3 s; the sweeper waits 1 s)
    llm_server.batches.lose_answer(3.0)
    counts = impatient_sweeper(worker).sweep(model, flush=True)
    # Then the sweeper found the batch it had created, by listing the provider's batches
    assert counts.get("adopted") == 1, counts
    assert llm_server.batches.count("POST", r"/batches$") == 1
    assert [b.provider_batch for b in get_runtime().batches.tracked()
            if b.provider_batch in llm_server.batches.created()] == llm_server.batches.created()
    # and every answer comes from that one batch: 5 requests billed, not 10
    beat_round(worker.app)
    answered_once(llm_server, pending)


def test_a_batch_accepted_before_its_worker_died_is_adopted_and_its_duplicate_canceled(
    worker: Session, llm_server: LLMServer, provider: str
) -> None:
    key, model = CASES[provider]
    rt = get_runtime()
    pending = waiting_tasks(worker, key, model)
    # Given sweepers that wrote their intent, had the batch accepted twice (one after the
    # other's claim lapsed), and died each time before writing the provider's id down
    batch = rt.batches.close(model, "dead-sweeper", 0.05, force=True)
    assert batch is not None
    items = [BatchItem(cid, request_from_json(item["request"]))
             for cid, item in sorted(rt.batches.items(batch.id).items())]
    api = rt.providers.batches(provider)
    prepared = api.prepare(items, label=batch.id)
    assert rt.batches.update(batch.id, "dead-sweeper", prepared=prepared or "",
                             creating=rt.batches.now_ms(), creates=2)
    first = api.create(items, prepared, label=batch.id)
    second = api.create(items, prepared, label=batch.id)
    wait_until(lambda: rt.batches.claim(batch.id, "probe", 0.001, (SUBMITTING,)),
               what="the dead sweeper's claim lapsing")
    # When the next round finds the batch
    counts = beat_round(worker.app)["results"][model]
    # Then it adopted the oldest, canceled the other, and created none
    assert counts.get("adopted") == 1 and counts.get("duplicates_canceled") == 1, counts
    assert llm_server.batches.count("POST", r"/batches$") == 2
    assert llm_server.batches.live() == [first]
    after = rt.batches.get(batch.id)
    assert after is not None and (after.provider_batch, after.duplicates) == (first, second)
    beat_round(worker.app)
    # each task answered once, from the batch kept
    results = [p.get(timeout=20) for p in pending]
    assert {r["batch_id"] for r in results} == {first}


def test_a_create_the_provider_commits_late_is_canceled_at_the_first_poll(
    worker: Session, llm_server: LLMServer, provider: str
) -> None:
    key, model = CASES[provider]
    pending = waiting_tasks(worker, key, model)
    sweeper = impatient_sweeper(worker)
    # Given a create the provider commits 2.5 s after it arrived (the sweeper gives up
    # after 1 s, and looks for it in vain), and the retry's create (the same sweep), answered
    # at once
    llm_server.batches.lose_answer(4.0, commit_after=2.5)
    counts = sweeper.sweep(model, flush=True)
    assert (counts.get("submit_retries"), counts.get("submitted")) == (1, 1), counts
    (kept,) = llm_server.batches.created()
    wait_until(lambda: len(llm_server.batches.created()) == 2, what="the late commit")
    late = next(b for b in llm_server.batches.created() if b != kept)
    # When the next round polls the batch
    counts = beat_round(worker.app)["results"][model]
    # Then the late one is canceled, and every answer comes from the batch kept
    assert counts.get("duplicates_canceled") == 1, counts
    assert llm_server.batches.live() == [kept]
    results = [p.get(timeout=20) for p in pending]
    assert {r["batch_id"] for r in results} == {kept}
    record = next(b for b in get_runtime().batches.tracked() if b.provider_batch == kept)
    assert record.duplicates == late and record.creates == 2
