"""How the simulated provider answers an agent turn (a request with tools), offline.

Deterministic, a function of the conversation (never of the model, so that every model
makes the same decision, except one with an error rate on its share of inputs):
- the next tool the last user message names (in the order of its text, skipping those
  called since it; `tool_choice` `tool`: that one, `any`: else the first tool, on the
  turn that message opens) is called, with arguments valid against its schema, seeded
  by the message, its top-level free-text arguments taking the words after the tool's
  name up to a punctuation mark (`tool_use`): "Use get_weather for Paris, then get_time
  for Paris" runs as three turns, two calls and an answer;
- every named tool called, the last message holding their results: the turn is answered
  in text that quotes them (`end_turn`);
- no tool named (or `tool_choice` `none`): None, the provider answers in text as usual.
A wrong answer (`wrong`) calls the same tool with other arguments. The test LLM server
answers its wire requests through this too (`tests/support/llm_fake.py`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from workers.providers.schema_instance import schema_instance, schema_instance_unlike
from workers.turns import Message, Tool, ToolCall, ToolChoice, ToolResult

_LINKS = frozenset({"for", "with", "on", "to", "about", "of", "in", "at", "the", "a", "an"})


def tool_turn(messages: tuple[Message, ...], tools: tuple[Tool, ...],
              choice: ToolChoice | None, *, wrong: bool = False,
              ) -> tuple[str, tuple[ToolCall, ...], str] | None:
    """(text, tool calls, stop reason) of a tool turn, or None: answer in text."""
    if not tools or not messages or (choice is not None and choice.mode == "none"):
        return None
    asked = next((i for i in range(len(messages) - 1, -1, -1)
                  if messages[i].role == "user" and messages[i].content), None)
    if asked is None:
        return None
    text = messages[asked].content
    called = {c.name for m in messages[asked + 1:] for c in m.tool_calls}
    results = [b for b in messages[-1].blocks if isinstance(b, ToolResult)]
    tool = _chosen(text, tools, choice, called, after_results=bool(results))
    if tool is None:
        if not results:
            return None
        names = {c.id: c.name for m in messages for c in m.tool_calls}
        quoted = "; ".join(f"{names.get(r.tool_call_id, 'the tool')} returned "
                           f"{r.content[:200]}" for r in results)
        return f"Done: {quoted}.", (), "end_turn"
    digest = hashlib.sha256(f"{tool.name}\0{text}".encode()).digest()
    seed = int.from_bytes(digest[:8], "big")
    args = _arguments(tool, text, seed)
    if wrong:
        other = schema_instance_unlike(tool.parameters, seed + 1, args)
        args = other if isinstance(other, dict) and other != args else {**args, "_wrong": True}
    call = ToolCall(f"toolu_sim_{digest[8:20].hex()}", tool.name, args)
    return "", (call,), "tool_use"


def _chosen(text: str, tools: tuple[Tool, ...], choice: ToolChoice | None,
            called: set[str], *, after_results: bool) -> Tool | None:
    """The next tool to call: the first the user's message names that was not called yet
    since it (a forced tool or `any`: on the first turn only)."""
    if choice is not None and choice.mode == "tool":
        return None if after_results else next(
            (t for t in tools if t.name == choice.name), None)
    named = [(m.start(), t) for t in tools if t.name not in called
             and (m := re.search(rf"(?<![\w-]){re.escape(t.name)}(?![\w-])", text))]
    if named:
        return min(named, key=lambda pair: pair[0])[1]
    if choice is not None and choice.mode == "any" and not after_results:
        return tools[0]
    return None


def _arguments(tool: Tool, text: str, seed: int) -> dict[str, Any]:
    value = schema_instance(tool.parameters, seed)
    args: dict[str, Any] = value if isinstance(value, dict) else {}
    after = re.split(r"[,.;:!?\n]", text.split(tool.name, 1)[1])[0] \
        if tool.name in text else ""
    found = re.findall(r"[\w.@/-]+", after)
    while found and found[0].lower() in _LINKS:
        found.pop(0)
    words = " ".join(found[:8])
    if not words:
        return args
    for name, schema in (tool.parameters.get("properties") or {}).items():
        free = schema.get("type") == "string" and not (
            {"enum", "const", "format", "pattern"} & set(schema))
        if free and schema.get("minLength", 0) <= len(words) <= schema.get("maxLength", 10**6):
            args[name] = words
    return args
