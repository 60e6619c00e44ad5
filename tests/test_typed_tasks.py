"""Every typed task on a real worker: input validated, output parsed and checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from celery.result import AsyncResult

from routing.config.defaults import default_config
from tasks.kinds import KINDS
from tests.support.batches import submit_waiting
from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from workers.contract import OUTPUT_TOOL

CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "monitoring": (
        {"source": "api", "observations": ["p99 latency 2.3s", "error rate 0.1%"]},
        {"status": "warn", "summary": "latency is high", "alerts": []},
    ),
    "content_curation": (
        {"topic": "agents", "items": [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}],
         "max_selected": 1},
        {"selected": [{"id": "b", "reason": "on topic"}]},
    ),
    "classification": (
        {"text": "refund please", "labels": ["billing", "bug"]},
        {"label": "billing", "confidence": 0.8},
    ),
    "data_extraction": (
        {"text": "Ada, 36, London", "fields": {"name": "person", "city": "where"}},
        {"fields": {"name": "Ada", "city": "London"}},
    ),
    "lookup": ({"question": "capital of France?"}, {"answer": "Paris", "found": True}),
    "code_generation": (
        {"task": "add two ints"}, {"code": "def add(a, b):\n    return a + b"},
    ),
    "code_review": (
        {"diff": "+x = eval(input())"},
        {"approve": False, "findings": [{"severity": "critical", "message": "eval"}]},
    ),
    "drafting": ({"brief": "launch note"}, {"title": "Launch", "body": "We shipped."}),
    "orchestration": (
        {"goal": "ship the release"},
        {"steps": [{"title": "review", "model_key": "code_review", "instructions": "go"}]},
    ),
    "strategic_decision": (
        {"question": "build or buy?", "options": ["build", "buy"]},
        {"choice": "buy", "rationale": "time to market", "confidence": 0.7},
    ),
    "large_context_coding": (
        {"task": "rename foo", "files": {"a.py": "foo()"}},
        {"summary": "renamed", "changes": [{"path": "a.py", "description": "foo->bar"}]},
    ),
}


def test_every_default_key_has_a_typed_task(worker: Session) -> None:
    assert {f"tasks.{k}" for k in CASES} <= set(worker.app.tasks)
    assert set(CASES) == set(worker.store.read().model_keys)


def result_of(session: Session, key: str,
              pending: AsyncResult) -> Any:  # type: ignore[type-arg]
    """The task's result; a task of a key that can wait (the shipped content_curation) is
    in a provider batch: Beat's round submits it, and the answer comes back from there."""
    if default_config().model_keys[key].batch is not None:
        submit_waiting(session.app)
    return pending.get(timeout=30)


@pytest.mark.parametrize("key", sorted(CASES))
def test_typed_task_returns_its_validated_output(
    worker: Session, llm_server: LLMServer, key: str
) -> None:
    given, answer = CASES[key]
    llm_server.set_reply(json.dumps(answer))
    out = result_of(worker, key, worker.app.tasks[f"tasks.{key}"].delay(**given))
    assert out["model_key"] == key and "escalated_from" not in out
    spec = next(k for k in KINDS if k.model_key == key)
    assert out["output"] == spec.output_model.model_validate(answer).model_dump(mode="json")
    (request,) = llm_server.requests
    # Native structured output (a forced tool) on the Claude models, the prompt
    # convention on Kimi (which has none)
    if out["model"] == "kimi-for-coding":
        assert "<json-schema>" in (request.system or "")
        assert "response_format" not in request.body
    else:
        assert request.body["tool_choice"] == {"type": "tool", "name": OUTPUT_TOOL}
        assert "<json-schema>" not in (request.system or "")


def test_output_that_ignores_the_input_escalates(worker: Session, llm_server: LLMServer) -> None:
    # Haiku chooses an id that was not offered; Sonnet answers properly
    llm_server.set_reply(json.dumps({"selected": [{"id": "zzz", "reason": "?"}]}),
                         model="claude-haiku-4-5")
    llm_server.set_reply(json.dumps({"selected": [{"id": "a", "reason": "good"}]}))
    out = result_of(worker, "content_curation", worker.app.tasks["tasks.content_curation"].delay(
        topic="t", items=[{"id": "a", "title": "A"}]))
    assert out["escalated_from"] == ["claude-haiku-4-5"]
    assert out["output"]["selected"] == [{"id": "a", "reason": "good"}]


def test_typed_input_errors_name_the_field(worker: Session, llm_server: LLMServer) -> None:
    pending = worker.app.tasks["tasks.classification"].delay(text="x", labels=["only-one"])
    with pytest.raises(Exception, match="labels"):
        pending.get(timeout=30)
    assert llm_server.requests == []
