"""Trust no routing header but the router's own: a header not sealed for its task with
LLM_ROUTER_HEADER_KEYS is routed afresh (as if the task were new), logged and counted; what
is read from a sealed one is bounded (hops, reasons, sent_at, the cost it carries)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.result import AsyncResult

from routing.config.defaults import default_config
from routing.spend.aggregates import AggregateRow
from tests.support.celery import HEADER_KEY, ROOT, Session, WorkerProcess, foreign_app
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from workers.execution.route_seal import seal
from workers.execution.route_state import HOP_REASON_CHARS, MAX_HOPS, ROUTE_HEADER
from workers.execution.runtime import get_runtime
from workers.settings import Settings

LOOKUP, LOOKUP_QUEUE = DESIGN_ROUTES["lookup"]


def _own(**fields: Any) -> dict[str, Any]:
    """A route state of `lookup` on its own model, as the router writes it."""
    cfg = default_config()
    tier = cfg.models[LOOKUP].tier
    return {"model_key": "lookup", "route_key": "lookup", "model": LOOKUP, "tier": tier,
            "queue": LOOKUP_QUEUE, "rule": "default", "config_version": 1, **fields}


def _escalated_to_the_top() -> dict[str, Any]:
    """A consistent forgery: lookup escalated along its whole chain (the issue's Haiku ->
    Sonnet -> Opus), one step per model whose output was 'refused'."""
    cfg = default_config()
    chain = ["lookup"]
    while (nxt := cfg.model_keys[chain[-1]].escalate_to) is not None and nxt not in chain:
        chain.append(nxt)
    top = cfg.model_keys[chain[-1]].model
    tier = cfg.models[top].tier
    return _own(route_key=chain[-1], model=top, tier=tier, queue=cfg.tiers[tier].queue,
                escalated_from=[cfg.model_keys[k].model for k in chain[:-1]], calls=2,
                hops=[{"kind": "escalate", "from": cfg.model_keys[a].model,
                       "to": cfg.model_keys[b].model, "reason": "invalid output"}
                      for a, b in itertools.pairwise(chain)])


def _send(app: Celery, header: Any, *, task_id: str | None = None,
          sealed_with: str | None = None) -> dict[str, Any]:
    """`lookup` sent by a plain Celery app with `header` (sealed for the task with
    `sealed_with`, as a key holder would)."""
    task_id = task_id or f"t-{time.time_ns()}"
    if sealed_with is not None:
        header = seal(header, task_id, sealed_with.encode())
    sent = app.send_task("llm.run", kwargs={"model_key": "lookup", "prompt": "q"},
                         queue=header.get("queue", LOOKUP_QUEUE) if isinstance(header, dict)
                         else LOOKUP_QUEUE, headers={ROUTE_HEADER: header}, task_id=task_id)
    out: dict[str, Any] = AsyncResult(sent.id, app=app).get(timeout=30)
    return out


def _rows() -> dict[tuple[str, str, str], AggregateRow]:
    ledger = get_runtime().ledger
    return {(r.model_key, r.model, r.tier): r
            for r in ledger.day_aggregates(time.strftime("%Y-%m-%d", time.gmtime())).rows}


def _total(name: str) -> int:
    return sum(int(getattr(r, name)) for r in _rows().values())


def test_a_forged_escalation_chain_runs_on_the_keys_own_model_and_plants_no_evidence(
    worker: Session, llm_server: LLMServer
) -> None:
    app = foreign_app(worker.env)
    before = {n: _total(n) for n in ("escalations_out", "escalation_calls",
                                     "route_headers_refused")}
    try:
        # Given a plain Celery app's hand-made header claiming lookup's whole escalation chain
        out = _send(app, _escalated_to_the_top())
    finally:
        app.close()
    # Then lookup ran once, on its own model, as a new task
    assert (out["model"], out["queue"], out["attempts"]) == (LOOKUP, LOOKUP_QUEUE, 1)
    assert [r.model for r in llm_server.requests] == [LOOKUP]
    assert "escalated_from" not in out and "hops" not in out and "rerouted" not in out
    # and no escalation reached the aggregates the review reads; the refusal is counted
    after = {n: _total(n) for n in before}
    assert after["escalations_out"] == before["escalations_out"]
    assert after["escalation_calls"] == before["escalation_calls"]
    assert after["route_headers_refused"] == before["route_headers_refused"] + 1


def test_a_forged_prior_cost_never_reaches_the_result(
    worker: Session, llm_server: LLMServer
) -> None:
    app = foreign_app(worker.env)
    try:
        out = _send(app, _own(calls=1, cost_micros=10**12))
    finally:
        app.close()
    assert out["attempts"] == 1 and out["cost_micros"] == out["last_call_cost_micros"]
    assert out["cost_usd"] < 1


def test_a_sealed_header_cannot_carry_more_cost_than_its_calls_can_have_cost(
    worker: Session, llm_server: LLMServer
) -> None:
    app = foreign_app(worker.env)
    try:
        out = _send(app, _own(calls=1, cost_micros=10**12), sealed_with=HEADER_KEY)
    finally:
        app.close()
    assert out["attempts"] == 1 and out["cost_micros"] == out["last_call_cost_micros"]


def test_a_1970_sent_at_never_reaches_the_latency_histograms(
    worker: Session, llm_server: LLMServer
) -> None:
    app = foreign_app(worker.env)
    # at most the oldest a task may be (the result's lifetime), plus the call itself
    limit_ms = (Settings().result_expires_seconds + 60) * 1000
    try:
        for sealed_with in (None, HEADER_KEY):  # forged; and sealed by a broken clock
            before = _total("e2e_ms")
            _send(app, _own(sent_at=1.0), sealed_with=sealed_with)
            assert 0 <= _total("e2e_ms") - before <= limit_ms
    finally:
        app.close()


def test_hops_read_from_a_header_are_capped(worker: Session, llm_server: LLMServer) -> None:
    # (more than are kept, reasons longer than are kept; small enough for one AMQP frame)
    hops = [{"kind": "fallback", "from": LOOKUP, "to": LOOKUP, "reason": "r" * 1_000}] * 40
    app = foreign_app(worker.env)
    try:
        forged = _send(app, _own(hops=hops))
        sealed = _send(app, _own(hops=hops), sealed_with=HEADER_KEY)
    finally:
        app.close()
    assert "hops" not in forged  # not sealed: routed afresh, nothing of it kept
    assert len(sealed["hops"]) == MAX_HOPS
    assert all(len(h["reason"]) == HOP_REASON_CHARS for h in sealed["hops"])


def test_a_header_sealed_for_another_task_is_routed_afresh(
    worker: Session, llm_server: LLMServer
) -> None:
    app = foreign_app(worker.env)
    try:
        copied = seal(_own(calls=1, cost_micros=5), "another-task", HEADER_KEY.encode())
        out = _send(app, copied)
    finally:
        app.close()
    assert out["attempts"] == 1


def test_rotation_an_old_key_still_verifies_while_the_new_one_signs(
    own_broker: Callable[[], dict[str, str]], llm_server: LLMServer,
    worker_processes: list[WorkerProcess],
) -> None:
    # Given a worker in the middle of a rotation: the new key first (it signs), the old one
    # (the session's) still verifying
    env = {**own_broker(), "LLM_ROUTER_HEADER_KEYS": f"{'n' * 40},{HEADER_KEY}"}
    proc = WorkerProcess(env, [LOOKUP_QUEUE, "celery"], "rotating")
    worker_processes.append(proc)
    proc.wait_ready()
    app = foreign_app(env)
    try:
        # When a task arrives sealed with the old key (sent before the rotation), carrying
        # one prior call
        old = _send(app, _own(calls=1, cost_micros=7), sealed_with=HEADER_KEY)
        new = _send(app, _own(calls=1, cost_micros=7), sealed_with="n" * 40)
        stale = _send(app, _own(calls=1, cost_micros=7), sealed_with="x" * 40)
    finally:
        app.close()
    # Then both keys' headers are honoured (the prior call counted), a dropped key's is not
    assert (old["attempts"], new["attempts"], stale["attempts"]) == (2, 2, 1)
    assert old["cost_micros"] == old["last_call_cost_micros"] + 7


def test_a_live_worker_without_a_header_key_refuses_to_start(
    own_broker: Callable[[], dict[str, str]], worker_processes: list[WorkerProcess],
) -> None:
    # Given a live worker with no LLM_ROUTER_HEADER_KEYS (empty means unset)
    proc = WorkerProcess({**own_broker(), "LLM_ROUTER_HEADER_KEYS": ""}, [LOOKUP_QUEUE],
                         "keyless")
    worker_processes.append(proc)
    # Then it exits non-zero naming the variable, before taking any task
    assert proc.proc.wait(timeout=60) != 0, proc.output()[-2000:]
    assert "LLM_ROUTER_HEADER_KEYS is not set" in proc.output()
    assert " ready." not in proc.output()


def test_a_producer_without_the_key_sends_no_route_header_and_its_task_runs(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a producer importing the project (it routes at send time) without the key
    script = ("from workers.app import app\n"
              "r = app.send_task('llm.run', kwargs={'model_key': 'lookup', 'prompt': 'q'})\n"
              "print(r.get(timeout=30)['model'])\n")
    before = _total("route_headers_refused")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=90,
                          env={**os.environ, **worker.env, "LLM_ROUTER_HEADER_KEYS": ""})
    # Then its task runs on lookup's model, routed on arrival: nothing refused, one warning
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == LOOKUP
    assert _total("route_headers_refused") == before
    assert done.stderr.count("LLM_ROUTER_HEADER_KEYS is not set") == 1
