"""The neutral turn (`workers.turns`): both shapes normalise to one form, which round-trips
through its JSON form; the adapters translate it back to each wire format; the simulated
provider answers tool turns deterministically. Plain Python, no worker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_agent_turns import ASK, PARAMS, PNG, TOOLS
from workers.providers import anthropic_turns, openai_turns
from workers.providers.base import CompletionRequest
from workers.providers.simulated import SimulatedProvider
from workers.turns import Image, Message, Text, ToolCall, ToolChoice, ToolResult, Turn, normalise

OPENAI = [
    {"role": "user", "content": [{"type": "text", "text": "look"},
                                 {"type": "image_url",
                                  "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "user", "content": "thanks"},
]
ANTHROPIC = [
    {"role": "user", "content": [{"type": "text", "text": "look"},
                                 {"type": "image", "source": {"type": "base64",
                                                              "media_type": "image/png",
                                                              "data": PNG}}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1",
                                       "name": "get_weather", "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                                  "content": [{"type": "text", "text": "sunny"}]},
                                 {"type": "text", "text": "thanks"}]},
]
EXPECTED = (
    Message("user", "look", (Text("look"), Image("image/png", data=PNG))),
    Message("assistant", "", (ToolCall("call_1", "get_weather", {"city": "Paris"}),)),
    Message("user", "thanks", (ToolResult("call_1", "sunny"), Text("thanks"))),
)


def test_both_shapes_normalise_to_one_form_that_round_trips() -> None:
    a = normalise(OPENAI, TOOLS["openai"], "required")
    b = normalise(ANTHROPIC, TOOLS["anthropic"], {"type": "any"})
    assert a == b
    assert a.messages == EXPECTED and a.tool_choice == ToolChoice("any")
    assert [t.parameters for t in a.tools] == list(PARAMS.values())
    stored = json.loads(json.dumps(a.to_dict()))  # JSON-able: what a sample stores
    assert Turn.from_dict(stored) == a


def test_the_adapters_write_each_wire_format() -> None:
    turn = normalise(OPENAI, TOOLS["openai"], "get_time")
    assert openai_turns.messages(turn.messages) == [
        OPENAI[0],
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": "thanks"},
    ]
    assert openai_turns.tools(turn.tools) == TOOLS["openai"]
    assert openai_turns.tool_choice(turn.tool_choice or ToolChoice()) == {
        "type": "function", "function": {"name": "get_time"}}
    wire = anthropic_turns.messages(turn.messages)
    assert wire[0] == ANTHROPIC[0] and wire[1] == ANTHROPIC[1]
    assert wire[2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_1",
                                     "content": "sunny"}
    assert anthropic_turns.tools(turn.tools) == TOOLS["anthropic"]
    assert anthropic_turns.tool_choice(ToolChoice("tool", "get_time")) == {
        "type": "tool", "name": "get_time"}
    # an id Anthropic would refuse is made acceptable the same way on call and result
    odd = normalise([{"role": "user", "content": "x"},
                     {"role": "assistant", "tool_calls": [{"id": "fn:1/a", "type": "function",
                      "function": {"name": "get_time", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "fn:1/a", "content": "noon"}],
                    TOOLS["openai"])
    out = anthropic_turns.messages(odd.messages)
    assert out[1]["content"][0]["id"] == out[2]["content"][0]["tool_use_id"] == "fn_1_a"


@pytest.mark.parametrize(("finish", "stop"), [("stop", "end_turn"), ("length", "max_tokens"),
                                              ("tool_calls", "tool_use"),
                                              ("content_filter", "refusal")])
def test_openai_stop_reasons_are_normalised(finish: str, stop: str) -> None:
    assert openai_turns.stop_reason(finish) == stop


def test_the_simulated_provider_runs_a_tool_loop_deterministically() -> None:
    provider = SimulatedProvider()
    turn = normalise([{"role": "user", "content": ASK}], TOOLS["anthropic"])
    messages: list[dict[str, Any]] = [{"role": "user", "content": ASK}]
    stops, names = [], []
    for _ in range(4):
        request = CompletionRequest(model="m", messages=turn.messages, max_tokens=256,
                                    tools=turn.tools)
        out, again = provider.complete(request), provider.complete(request)
        assert (again.text, again.tool_calls, again.usage) == (
            out.text, out.tool_calls, out.usage)  # the same answer every time
        stops.append(out.stop_reason)
        if not out.tool_calls:
            assert "get_time returned" in out.text
            break
        names += [c.name for c in out.tool_calls]
        messages += [{"role": "assistant", "content": [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
            for c in out.tool_calls]}, {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": c.id, "content": "ok"}
                for c in out.tool_calls]}]
        turn = normalise(messages, TOOLS["anthropic"])
    assert stops == ["tool_use", "tool_use", "end_turn"]
    assert names == ["get_weather", "get_time"]
    # no tool named, or tool_choice none: a text answer
    plain = normalise([{"role": "user", "content": "hello"}], TOOLS["anthropic"])
    assert not provider.complete(CompletionRequest(
        model="m", messages=plain.messages, max_tokens=64, tools=plain.tools)).tool_calls
    # the estimate counts the tools: more input tokens than the text alone
    with_tools = provider.complete(CompletionRequest(
        model="m", messages=plain.messages, max_tokens=64, tools=plain.tools))
    bare = provider.complete(CompletionRequest(model="m", messages=plain.messages,
                                               max_tokens=64))
    assert with_tools.usage.input_tokens > bare.usage.input_tokens


def test_a_recorded_tool_turn_comes_back_the_same() -> None:
    """A recorded sample keeps the turn in its JSON form and replays it unchanged."""
    from workers.contract import Call, call_document, call_from_document
    from workers.turns import normalise

    turn = normalise(
        [{"role": "user", "content": "use read_file on a.py"},
         {"role": "assistant", "content": [
             {"type": "text", "text": "reading"},
             {"type": "tool_use", "id": "call_1", "name": "read_file",
              "input": {"path": "a.py"}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "print(1)"}],
        [{"type": "function", "function": {"name": "read_file", "description": "read",
                                           "parameters": {"type": "object", "properties": {
                                               "path": {"type": "string"}}}}}],
        "auto")
    call = Call(model_key="code_generation", messages=turn.messages, system="be brief",
                max_tokens=256, tools=turn.tools, tool_choice=turn.tool_choice)
    doc = call_document(call)
    import json

    back = call_from_document(json.loads(json.dumps(doc)))
    assert back.messages == call.messages
    assert back.tools == call.tools and back.tool_choice == call.tool_choice


def test_tool_definitions_count_toward_the_50000_token_rule() -> None:
    from routing.config.defaults import default_config
    from routing.router import Router
    from tasks.run_spec import RunSpec
    from workers.contract import send_facts, send_needs

    # Given a short code_review turn whose tools' definitions are long (~60,000 tokens)
    big = [{"name": "lookup_symbol", "description": "symbol table " * 20_000,
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    kwargs = {"model_key": "code_review", "tools": big,
              "messages": [{"role": "user", "content": "use lookup_symbol for main"}]}
    facts = send_facts("llm.run", kwargs)
    call = RunSpec().parse(kwargs, default_config())
    # Then the send-time estimate and the worker's both see them, and the rule applies
    assert facts is not None and facts[1] >= 50_000 and call.input_tokens >= 50_000
    router = Router(default_config())
    decision = router.decide("code_review", facts[1], send_needs("llm.run", kwargs))
    assert decision.model == "kimi-for-coding"  # (Kimi takes tools)
    assert router.decide("code_review", call.input_tokens, call.needs).model == \
        "kimi-for-coding"
    # without the tools the same message stays on the key's model
    assert Router(default_config()).decide("code_review", send_facts(
        "llm.run", {**kwargs, "tools": None})[1]).model == "claude-sonnet-4-6"  # type: ignore[index]


def test_the_same_tools_normalise_the_same_once_kept() -> None:
    """A tool list is normalised once per JSON text: the next turn with the same tools gets
    the same values; a caller changing its list afterwards changes nothing kept; a list
    that only looks the same in JSON (tuples) is checked afresh."""
    from workers.turns import normalise_tools

    raw: list[Any] = json.loads(json.dumps(TOOLS["anthropic"]))
    first = normalise_tools(raw)
    raw[0]["input_schema"]["properties"]["changed"] = {"type": "string"}
    raw[0]["description"] = "changed"
    again = normalise_tools(json.loads(json.dumps(TOOLS["anthropic"])))
    assert again == first
    assert again[0].parameters == first[0].parameters
    assert "changed" not in again[0].parameters["properties"]
    assert [t.description for t in again] == [t["description"] for t in TOOLS["anthropic"]]
    changed = normalise_tools(raw)
    assert changed[0].description == "changed"
    assert "changed" in changed[0].parameters["properties"]
    tupled = json.loads(json.dumps(TOOLS["anthropic"]))
    tupled[0]["input_schema"]["required"] = tuple(tupled[0]["input_schema"]["required"])
    with pytest.raises(ValueError, match=r"tools\.0\.input_schema\.required"):
        normalise_tools(tupled)
