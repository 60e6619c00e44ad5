"""Every provider call is charged: a call whose worker died before settling it is in the
ledger, at its reserved bound and marked estimated, by the time the redelivered task is
done; the redelivery's own call is charged too (at-least-once, never invisible spend)."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Celery
from celery.result import AsyncResult

from routing.prices.pricing import worst_case_micros
from tests.support.celery import WorkerProcess
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.runtime import get_runtime

HAIKU = "claude-haiku-4-5"


def test_a_call_cut_off_by_a_worker_death_is_charged_at_its_bound(
    isolated_producer: tuple[dict[str, str], Celery],
    llm_server: LLMServer,
    worker_processes: list[WorkerProcess],
) -> None:
    env, producer = isolated_producer
    fast = {"LLM_ROUTER_VISIBILITY_TIMEOUT": "3"}  # redelivered soon after the death
    first = WorkerProcess(env, ["llm.haiku", "celery"], "doomed", extra_env=fast)
    worker_processes.append(first)
    first.wait_ready()
    # Given a call that the provider holds while its worker is SIGKILLed
    llm_server.stall(30, times=1, model=HAIKU)
    sent = producer.send_task("llm.run", kwargs={"model_key": "monitoring", "prompt": "p"})
    wait_until(lambda: llm_server.requests_for(HAIKU), timeout=30, what="the first call")
    first.kill()
    second = WorkerProcess(env, ["llm.haiku", "celery"], "survivor", extra_env=fast)
    worker_processes.append(second)
    second.wait_ready()
    out = AsyncResult(sent.id, app=producer).get(timeout=60)
    # Then, the moment the redelivered task is done, both calls are in the ledger: the
    # lost one at its worst case, marked estimated; the second at its real cost
    rt = get_runtime()
    cfg = rt.live.get()
    seconds, _ = rt.redis.time()
    day = datetime.fromtimestamp(int(seconds), UTC).date()
    ours = [c for c in rt.ledger.calls(day) if c["task_id"] == sent.id]
    estimated = [c for c in ours if c["outcome"] == "estimated"]
    settled = [c for c in ours if c["outcome"] == "ok"]
    assert len(estimated) == 1 and len(settled) == 1, ours
    max_tokens = cfg.model_keys["monitoring"].max_tokens
    input_tokens = 1 + 4  # "p": one token, plus the message overhead
    assert estimated[0]["cost_micros"] == worst_case_micros(
        input_tokens, max_tokens, cfg.price_of(HAIKU))
    assert estimated[0]["estimated"] == "redelivered"
    assert settled[0]["cost_micros"] == out["cost_micros"] > 0
    assert len(llm_server.requests_for(HAIKU)) == 2
