"""Typed tasks on native structured output, on a real worker with the real SDK clients
against the local stand-in server: on an Anthropic model a forced tool whose input schema
is the output's, on OpenAI-compatible models `response_format` with a strict JSON schema,
on a model without `structured_output` the prompt convention. The request bodies the
server received prove which; the output is validated against the task's model and input
either way."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from workers.contract import OUTPUT_TOOL
from workers.execution.runtime import get_runtime

GIVEN = {"text": "refund please", "labels": ["billing", "bug"]}
ANSWER = {"label": "billing", "confidence": 0.8}


def _route(worker: Session, key: str, model: str) -> None:
    cfg = worker.store.set_model(key, model, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)


def _classify(worker: Session) -> dict[str, Any]:
    out: dict[str, Any] = worker.app.tasks["tasks.classification"].delay(**GIVEN).get(timeout=30)
    return out


def _closed(schema: dict[str, Any]) -> None:
    """Every object of `schema` is closed and requires every property (strict mode)."""
    if schema.get("type") == "object" and "properties" in schema:
        assert schema["additionalProperties"] is False
        assert sorted(schema["required"]) == sorted(schema["properties"])
    for value in schema.values():
        if isinstance(value, dict):
            _closed(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _closed(item)


def test_an_anthropic_model_answers_through_a_forced_tool(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.set_reply(json.dumps(ANSWER))
    out = _classify(worker)
    assert (out["model"], out["structured_output"]) == ("claude-haiku-4-5", "native")
    assert out["output"] == ANSWER and "escalated_from" not in out
    (request,) = llm_server.requests
    body = request.body
    assert body["tool_choice"] == {"type": "tool", "name": OUTPUT_TOOL}
    (tool,) = body["tools"]
    assert tool["name"] == OUTPUT_TOOL
    # the schema narrowed for the input: only the offered labels
    assert tool["input_schema"]["properties"]["label"]["enum"] == ["billing", "bug"]
    assert "<json-schema>" not in (request.system or "")
    # the answer came back as the tool's input (a tool_use block, no text block)
    assert request.text == json.dumps(ANSWER)


@pytest.mark.parametrize("model", ["gpt-4o", "gemini-2.5-pro"])
def test_an_openai_compatible_model_answers_through_a_strict_response_format(
    worker: Session, llm_server: LLMServer, model: str
) -> None:
    _route(worker, "classification", model)
    llm_server.set_reply(json.dumps(ANSWER))
    out = _classify(worker)
    assert (out["model"], out["structured_output"]) == (model, "native")
    assert out["output"] == ANSWER
    (request,) = llm_server.requests
    fmt = request.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert (fmt["json_schema"]["name"], fmt["json_schema"]["strict"]) == (
        "ClassificationOut", True)
    schema = fmt["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == ["billing", "bug"]
    _closed(schema)
    assert "tools" not in request.body
    assert "<json-schema>" not in (request.system or "")


def test_a_model_without_structured_output_keeps_the_prompt_convention(
    worker: Session, llm_server: LLMServer
) -> None:
    _route(worker, "classification", "kimi-for-coding")
    llm_server.set_reply(json.dumps(ANSWER))
    out = _classify(worker)
    assert (out["model"], out["structured_output"]) == ("kimi-for-coding", "prompt")
    assert out["output"] == ANSWER
    (request,) = llm_server.requests
    assert "response_format" not in request.body and "tools" not in request.body
    assert "<json-schema>" in (request.system or "")
    assert '"enum": ["billing", "bug"]' in (request.system or "")


def test_a_native_output_that_ignores_the_input_still_escalates(
    worker: Session, llm_server: LLMServer
) -> None:
    # Haiku's tool input names a label that was not offered: the output is still checked
    # against the input, and the task escalates (on to Sonnet, natively too)
    llm_server.set_reply(json.dumps({"label": "spam", "confidence": 0.9}),
                         model="claude-haiku-4-5")
    llm_server.set_reply(json.dumps(ANSWER))
    out = _classify(worker)
    assert out["escalated_from"] == ["claude-haiku-4-5"]
    assert (out["model"], out["structured_output"], out["output"]) == (
        "claude-sonnet-4-6", "native", ANSWER)
    assert all(r.body.get("tool_choice") for r in llm_server.requests)


def test_the_fallback_to_another_wire_format_switches_mechanism(
    worker: Session, llm_server: LLMServer
) -> None:
    # Haiku keeps failing: the fallback (Gemini) answers through response_format
    llm_server.server_error(times=10, model="claude-haiku-4-5")
    out = _classify(worker)
    assert (out["model"], out["structured_output"]) == ("gemini-2.5-pro", "native")
    gemini = llm_server.requests_for("gemini-2.5-pro")[-1]
    assert gemini.body["response_format"]["type"] == "json_schema"
    assert json.loads(gemini.text or "")["label"] in GIVEN["labels"]
