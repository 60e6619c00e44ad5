"""Agent turns through `llm.run` on real workers, the real SDK clients and the test LLM
server (which answers tool turns as the simulated provider does, in both wire formats):
a three-turn tool loop from a foreign app in each message shape and wire format, the same
loop surviving a mid-conversation fallback to the other provider's format, an image turn,
a provider batch of tool turns, a shadow trial on tool turns, and every validation error
refused by name with nothing reserved or called."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from celery import Celery
from celery.result import AsyncResult

from routing.spend.aggregates import TrialRow
from tests.support.batches import set_batch, submit_waiting
from tests.support.celery import Session, foreign_app
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from tests.test_task_inputs import _held_or_settled
from workers.execution.runtime import get_runtime

ASK = "Use get_weather for Paris, then get_time for Paris."
PARAMS = {"get_weather": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]},
          "get_time": {"type": "object", "properties": {"zone": {"type": "string"}},
                       "required": ["zone"]}}
TOOLS = {
    "openai": [{"type": "function", "function": {"name": n, "description": f"{n} of a place",
                                                 "parameters": p}} for n, p in PARAMS.items()],
    "anthropic": [{"name": n, "description": f"{n} of a place", "input_schema": p}
                  for n, p in PARAMS.items()],
}
# model key -> its first model's wire format: lookup on Claude Haiku (fallback Gemini, an
# OpenAI-compatible API), large_context_coding on Kimi (OpenAI-compatible; its fallbacks
# Gemini, then Claude Sonnet 4.6)
KEYS = {"anthropic": ("lookup", "claude-haiku-4-5"),
        "openai": ("large_context_coding", "kimi-for-coding")}
# a 1x1 PNG
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)).decode()


def tool_output(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps({"tool": name, **arguments, "value": "clear" if "weather" in name
                       else "14:00"})


def assistant_turn(shape: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The assistant's turn and the tool results, in `shape`, as an agent appends them."""
    calls = result["tool_calls"]
    if shape == "openai":
        return [{"role": "assistant", "content": result["text"] or None,
                 "tool_calls": [{"id": c["id"], "type": "function",
                                 "function": {"name": c["name"],
                                              "arguments": json.dumps(c["arguments"])}}
                                for c in calls]},
                *({"role": "tool", "tool_call_id": c["id"],
                   "content": tool_output(c["name"], c["arguments"])} for c in calls)]
    return [{"role": "assistant",
             "content": [{"type": "tool_use", "id": c["id"], "name": c["name"],
                          "input": c["arguments"]} for c in calls]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": c["id"],
                                          "content": tool_output(c["name"], c["arguments"])}
                                         for c in calls]}]


def agent_loop(send: Callable[[dict[str, Any]], dict[str, Any]], key: str, shape: str,
               *, before_turn: Callable[[int], None] = lambda _: None,
               ) -> list[dict[str, Any]]:
    """An agent's loop, as a foreign app runs it: each turn sends the conversation and
    the tools; tool calls are run and their results sent back, until the model answers."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": ASK}]
    turns = []
    for turn in range(6):
        before_turn(turn)
        result = send({"model_key": key, "messages": messages, "tools": TOOLS[shape],
                       "tool_choice": "auto"})
        turns.append(result)
        if result["stop_reason"] != "tool_use":
            return turns
        messages += assistant_turn(shape, result)
    raise AssertionError("the loop never ended")


@pytest.fixture
def app(worker: Session) -> Iterator[Celery]:
    producer = foreign_app(worker.env)
    yield producer
    producer.close()


def by_name(app: Celery) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def send(kwargs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = app.send_task("llm.run", kwargs=kwargs).get(timeout=60)
        return out
    return send


@pytest.mark.parametrize("wire", sorted(KEYS))
@pytest.mark.parametrize("shape", sorted(TOOLS))
def test_a_three_turn_tool_loop_from_a_foreign_app(
    app: Celery, llm_server: LLMServer, wire: str, shape: str
) -> None:
    key, model = KEYS[wire]
    turns = agent_loop(by_name(app), key, shape)
    # Then: a call of each tool the user named, then the answer, all on the key's model
    assert [t["stop_reason"] for t in turns] == ["tool_use", "tool_use", "end_turn"]
    assert [[c["name"] for c in t["tool_calls"]] for t in turns] == [
        ["get_weather"], ["get_time"], []]
    assert turns[0]["tool_calls"][0]["arguments"] == {"city": "Paris"}
    assert turns[1]["tool_calls"][0]["arguments"] == {"zone": "Paris"}
    assert "get_time returned" in turns[2]["text"]
    assert {t["model"] for t in turns} == {model}
    # charged like any call: each turn's cost from its usage, which counts the tools
    assert all(t["cost_micros"] > 0 and t["usage"]["input_tokens"] > 0 for t in turns)
    requests = llm_server.requests_for(model)
    assert len(requests) == 3
    last = requests[-1].body
    if wire == "anthropic":
        assert [t["name"] for t in last["tools"]] == ["get_weather", "get_time"]
        assert last["tools"][0]["input_schema"] == PARAMS["get_weather"]
        assert last["tool_choice"] == {"type": "auto"}
        assert last["system"] == "Be brief."
        uses = [b for m in last["messages"] if isinstance(m["content"], list)
                for b in m["content"] if b["type"] == "tool_use"]
        results = [b for m in last["messages"] if isinstance(m["content"], list)
                   for b in m["content"] if b["type"] == "tool_result"]
        assert [u["id"] for u in uses] == [r["tool_use_id"] for r in results] == [
            t["tool_calls"][0]["id"] for t in turns[:2]]
    else:
        assert [t["function"]["name"] for t in last["tools"]] == ["get_weather", "get_time"]
        assert last["tool_choice"] == "auto"
        assert last["messages"][0] == {"role": "system", "content": "Be brief."}
        calls = [c for m in last["messages"] for c in m.get("tool_calls") or ()]
        answers = [m["tool_call_id"] for m in last["messages"] if m["role"] == "tool"]
        assert [c["id"] for c in calls] == answers == [
            t["tool_calls"][0]["id"] for t in turns[:2]]
        assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize("wire", sorted(KEYS))
def test_the_loop_survives_a_fallback_to_the_other_provider_mid_conversation(
    app: Celery, llm_server: LLMServer, wire: str
) -> None:
    key, model = KEYS[wire]
    # the first model answers the first turn, then fails (and so do the OpenAI-compatible
    # fallbacks of large_context_coding, so that its turn lands on Claude)
    landed = {"anthropic": "gemini-2.5-pro", "openai": "claude-sonnet-4-6"}[wire]

    def break_first_model(turn: int) -> None:
        if turn == 1:
            llm_server.server_error(times=100, model=model)
            if wire == "openai":
                llm_server.server_error(times=100, model="gemini-2.5-pro")

    turns = agent_loop(by_name(app), key, "openai" if wire == "anthropic" else "anthropic",
                       before_turn=break_first_model)
    assert [t["stop_reason"] for t in turns] == ["tool_use", "tool_use", "end_turn"]
    assert turns[0]["model"] == model and "fallback_from" not in turns[0]
    assert turns[1]["model"] == landed and turns[1]["fallback_from"][0] == model
    assert turns[1]["hops"][0]["kind"] == "fallback"
    # the conversation went on in the other wire format, its tool-call id kept
    first_id = turns[0]["tool_calls"][0]["id"]
    body = llm_server.requests_for(landed)[0].body
    if landed == "gemini-2.5-pro":
        assert [c["id"] for m in body["messages"] for c in m.get("tool_calls") or ()] == [
            first_id]
        assert [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"] == [
            first_id]
    else:
        blocks = [b for m in body["messages"] if isinstance(m["content"], list)
                  for b in m["content"]]
        assert [b["id"] for b in blocks if b["type"] == "tool_use"] == [first_id]
        assert [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"] == [first_id]
    assert turns[2]["tool_calls"] == [] and "get_time returned" in turns[2]["text"]


@pytest.mark.parametrize("wire", sorted(KEYS))
@pytest.mark.parametrize("shape", sorted(TOOLS))
def test_an_image_turn(app: Celery, llm_server: LLMServer, wire: str, shape: str) -> None:
    # (Kimi takes no images: large_context_coding's image turn goes to its next model that
    # does, Gemini, an OpenAI-compatible API too, and the hops say why)
    key, model = KEYS[wire][0], {"anthropic": "claude-haiku-4-5",
                                 "openai": "gemini-2.5-pro"}[wire]
    image = ({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
             if shape == "openai" else
             {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                          "data": PNG}})
    text_only = by_name(app)({"model_key": key, "prompt": "What is in the picture?"})
    out = by_name(app)({"model_key": key, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in the picture?"}, image]}]})
    assert out["model"] == model and out["stop_reason"] == "end_turn" and out["text"]
    if wire == "openai":
        assert "images" in json.dumps(out["hops"]) and not llm_server.requests_for(
            "kimi-for-coding")[1:]
    request = llm_server.requests_for(model)[-1]
    (message,) = request.body["messages"]
    if wire == "anthropic":
        assert message["content"][1] == {"type": "image", "source": {
            "type": "base64", "media_type": "image/png", "data": PNG}}
    else:
        assert message["content"][1] == {"type": "image_url", "image_url": {
            "url": f"data:image/png;base64,{PNG}"}}
    # the budget reserved for the image: the estimate counts it (1,600 tokens at most)
    from workers.contract import send_facts

    facts = send_facts("llm.run", {"model_key": key, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in the picture?"}, image]}]})
    assert facts is not None and facts[1] >= 1_600
    assert text_only["text"]


def test_the_send_time_router_passes_over_models_without_images(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given an image turn for large_context_coding (Kimi, which takes no images, then
    # Gemini) sent by the project's own app (routed at send time)
    out = worker.app.tasks["llm.run"].delay(model_key="large_context_coding", messages=[
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, {
            "type": "image", "source": {"type": "base64", "media_type": "image/png",
                                        "data": PNG}}]}]).get(timeout=60)
    # Then it went straight to Gemini's queue: Kimi never saw it, nothing was re-routed
    assert (out["model"], out["queue"]) == ("gemini-2.5-pro", "llm.sonnet")
    assert llm_server.requests_for("kimi-for-coding") == []
    assert "reroute" not in {h["kind"] for h in out.get("hops") or ()}
    assert "images" in json.dumps(out["hops"])  # the skip says why


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_provider_batch_of_tool_turns(
    worker: Session, llm_server: LLMServer, provider: str
) -> None:
    key, model = {"anthropic": ("content_curation", "claude-haiku-4-5"),
                  "openai": ("strategic_decision", "gpt-4o")}[provider]
    if provider == "openai":
        set_batch(worker, key, model, max_wait_seconds=600)
    first = [worker.app.send_task("llm.run", kwargs={
        "model_key": key, "messages": [{"role": "user", "content": f"{ASK} ({i})"}],
        "tools": TOOLS["anthropic"]}) for i in range(2)]
    submit_waiting(worker.app, 2)
    turns = [r.get(timeout=30) for r in first]
    for turn in turns:
        assert turn["batch_id"] and turn["stop_reason"] == "tool_use"
        assert [c["name"] for c in turn["tool_calls"]] == ["get_weather"]
    # the second turn of each conversation, batched as well, sends the results back
    second = [worker.app.send_task("llm.run", kwargs={
        "model_key": key, "tools": TOOLS["anthropic"], "messages": [
            {"role": "user", "content": f"{ASK} ({i})"}, *assistant_turn("anthropic", t)]})
        for i, t in enumerate(turns)]
    submit_waiting(worker.app, 2)
    again = [r.get(timeout=30) for r in second]
    assert [[c["name"] for c in t["tool_calls"]] for t in again] == [["get_time"]] * 2
    assert all(t["batch_id"] and t["model"] == model for t in again)
    assert len(set(json.dumps(t["tool_calls"]) for t in turns)) == 2  # each its own answer


def _trial_row(key: str, candidate: str) -> TrialRow:
    today = datetime.now(UTC).date().isoformat()
    rows = [r for r in get_runtime().ledger.trial_aggregates(today)
            if (r.model_key, r.model) == (key, candidate)]
    return rows[0] if rows else TrialRow(key, candidate, "")


def test_a_trial_on_tool_turns_compares_decisions(
    worker: Session, llm_server: LLMServer
) -> None:
    from tests.support.cli import as_json

    key, candidate = "lookup", "gpt-4o"

    def edit(doc: dict[str, Any]) -> str:
        doc["model_keys"][key]["trials"] = [
            {"candidate": candidate, "sample": 1.0, "daily_budget_usd": "1"}]
        return "tool trial"

    cfg = worker.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)
    before = _trial_row(key, candidate)
    # the candidate makes the production model's decision on one conversation, and answers
    # the other in text instead of calling the tool
    asks = [ASK, "Use get_weather for Oslo."]
    llm_server.set_reply(lambda body: "no tool from me" if "Oslo" in json.dumps(body)
                         else None, model=candidate)
    run = worker.app.tasks["llm.run"]
    results = [run.delay(model_key=key, messages=[{"role": "user", "content": ask}],
                         tools=TOOLS["openai"]).get(timeout=30) for ask in asks]
    assert all(r["stop_reason"] == "tool_use" for r in results)

    def scored() -> TrialRow | None:
        row = _trial_row(key, candidate)
        return row if row.tool_samples - before.tool_samples >= 2 else None

    row = wait_until(scored, timeout=30, what="two scored tool-turn samples")
    assert row.tool_agree - before.tool_agree == 1
    assert (row.agree - before.agree, row.disagree - before.disagree) == (1, 1)
    review = as_json("review", "--days", "1")
    # the session's other tests may have tried other candidates on this key today
    (trial,) = [t for t in review["model_keys"][key]["trials"] if t["candidate"] == candidate]
    assert trial["tool_turns"]["samples"] >= 2
    assert trial["text_turns"]["samples"] == trial["samples"] - trial["tool_turns"]["samples"]


BIG = "A" * (8 * 1024 * 1024)  # 6 MiB decoded
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"tools": [{"description": "nameless", "input_schema": {"type": "object"}}]},
     "tools.0.name: a tool needs a name"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "array"}}}]}, "tools.0.function.parameters.type: must be \"object\""),
    ({"tools": [{"name": "f", "input_schema": {"type": "object", "properties": [1]}}]},
     "tools.0.input_schema.properties: must map each argument to its JSON Schema"),
    ({"tools": TOOLS["anthropic"], "messages": [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x",
                                      "content": "42"}]}]},
     "messages.1.content.0.tool_use_id: 'toolu_x' matches no earlier tool call"),
    ({"tools": TOOLS["openai"], "messages": [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "call_9", "content": "42"}]},
     "messages.1.tool_call_id: 'call_9' matches no earlier tool call"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp",
                                     "data": PNG}}]}]},
     "messages.0.content.0.source.media_type: unsupported image type 'image/bmp'"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{BIG}"}}]}]},
     "messages.0.content.0.image_url.url: the image is 6,291,456 bytes, over the "
     "5,242,880-byte limit"),
    ({"tools": TOOLS["openai"], "tool_choice": "none", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "noon"}]},
     "tool_choice: is `none`, but messages.1 is a tool call"),
    ({"tools": TOOLS["openai"], "tool_choice": "get_tide"},
     "tool_choice: names 'get_tide', which is not among `tools`"),
    ({"tool_choice": "auto"}, "tool_choice: given without `tools`"),
    ({"tools": TOOLS["openai"], "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_time", "arguments": "{not json"}}]}]},
     "messages.1.tool_calls.0.function.arguments: is not valid JSON"),
]


def test_every_invalid_turn_is_refused_by_path_with_nothing_reserved_or_called(
    app: Celery, llm_server: LLMServer, redis_client: redis.Redis, worker: Session
) -> None:
    for extra, says in INVALID:
        kwargs = {"model_key": "lookup", "messages": [{"role": "user", "content": "hi"}],
                  **extra}
        sent = app.send_task("llm.run", kwargs=kwargs)
        with pytest.raises(Exception) as info:
            AsyncResult(sent.id, app=app).get(timeout=30)
        assert type(info.value).__name__ == "TaskInputError", info.value
        assert says in str(info.value), str(info.value)
        assert str(info.value).startswith("llm.run: invalid input: ")
        assert _held_or_settled(redis_client, worker.namespace, sent.id) == []
    assert llm_server.requests == []
