"""Trust no routing header: a producer that writes one gets what its model key may use."""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult

from tests.support.celery import Session, foreign_app
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from workers.execution.route_state import ROUTE_HEADER


def _forged(**fields: Any) -> dict[str, Any]:
    return {"model_key": "lookup", "route_key": "lookup", "model": "claude-opus-4-6",
            "tier": "opus", "queue": "llm.haiku", "rule": "default", "config_version": 1,
            **fields}


def _send(worker: Session, header: Any) -> dict[str, Any]:
    app = foreign_app(worker.env)
    try:
        sent = app.send_task("llm.run", kwargs={"model_key": "lookup", "prompt": "q"},
                             queue="llm.haiku", headers={ROUTE_HEADER: header})
        out: dict[str, Any] = AsyncResult(sent.id, app=app).get(timeout=30)
    finally:
        app.close()
    return out


def test_a_forged_opus_header_runs_lookup_on_its_own_model(
    worker: Session, llm_server: LLMServer
) -> None:
    out = _send(worker, _forged())
    model, queue = DESIGN_ROUTES["lookup"]
    assert (out["model"], out["queue"]) == (model, queue)
    assert [r.model for r in llm_server.requests] == [model]  # Opus was never called
    assert out["rerouted"] is True
    assert "not a model 'lookup' may use" in out["hops"][-1]["reason"]


def test_a_malformed_header_is_routed_again_not_a_type_error(
    worker: Session, llm_server: LLMServer
) -> None:
    out = _send(worker, {"model": "claude-opus-4-6"})
    assert out["model"] == DESIGN_ROUTES["lookup"][0] and out["rerouted"] is True
    assert "route header refused (model_key" in out["hops"][0]["reason"]


def test_negative_counters_are_refused_before_any_call(
    worker: Session, llm_server: LLMServer
) -> None:
    out = _send(worker, _forged(model="claude-haiku-4-5", tier="haiku", calls=-5))
    assert out["attempts"] == 1 and out["cost_micros"] > 0  # counted from zero, recorded
    assert "calls: expected an integer" in out["hops"][0]["reason"]
