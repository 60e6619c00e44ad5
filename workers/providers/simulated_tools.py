"""How the simulated provider answers an agent turn (a request with tools), offline.

Deterministic, a function of the conversation (never of the model, so that every model
makes the same decision, except one with an error rate on its share of inputs):
- the last message holds tool results: the turn is answered in text that quotes them
  (`end_turn`);
- else the tool the last user message names (the first named in its text; `tool_choice`
  `tool`: that one; `any`: the named one or else the first tool) is called, with
  arguments valid against its schema, seeded by the message, its top-level free-text
  arguments taking the words after the tool's name (`tool_use`);
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
    last = messages[-1]
    results = [b for b in last.blocks if isinstance(b, ToolResult)]
    if results:
        names = {c.id: c.name for m in messages for c in m.tool_calls}
        quoted = "; ".join(f"{names.get(r.tool_call_id, 'the tool')} returned "
                           f"{r.content[:200]}" for r in results)
        return f"Done: {quoted}.", (), "end_turn"
    text = next((m.content for m in reversed(messages) if m.role == "user"), "")
    tool = _chosen(text, tools, choice)
    if tool is None:
        return None
    digest = hashlib.sha256(f"{tool.name}\0{text}".encode()).digest()
    seed = int.from_bytes(digest[:8], "big")
    args = _arguments(tool, text, seed)
    if wrong:
        other = schema_instance_unlike(tool.parameters, seed + 1, args)
        args = other if isinstance(other, dict) and other != args else {**args, "_wrong": True}
    call = ToolCall(f"toolu_sim_{digest[8:20].hex()}", tool.name, args)
    return "", (call,), "tool_use"


def _chosen(text: str, tools: tuple[Tool, ...], choice: ToolChoice | None) -> Tool | None:
    if choice is not None and choice.mode == "tool":
        return next((t for t in tools if t.name == choice.name), None)
    named = [(m.start(), t) for t in tools
             if (m := re.search(rf"(?<![\w-]){re.escape(t.name)}(?![\w-])", text))]
    if named:
        return min(named, key=lambda pair: pair[0])[1]
    if choice is not None and choice.mode == "any":
        return tools[0]
    return None


def _arguments(tool: Tool, text: str, seed: int) -> dict[str, Any]:
    value = schema_instance(tool.parameters, seed)
    args: dict[str, Any] = value if isinstance(value, dict) else {}
    after = text.split(tool.name, 1)[1] if tool.name in text else ""
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
