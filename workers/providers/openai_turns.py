"""The neutral turn (`workers.turns`) in the Chat Completions shape, and back.

A user message's tool results become `role: "tool"` messages (first, in order), its
text and images one user message with `text` and `image_url` parts (images as data URLs
or links); an assistant's tool calls become its `tool_calls` (arguments as a JSON
string), ids kept as given. Tools are `{type: function, function: {name, description,
parameters}}`; tool choice `auto`, `required` (any), `none` or one function. The answer's
`tool_calls` become `ToolCall`s and its `finish_reason` a normalised stop reason.
"""

from __future__ import annotations

import json
from typing import Any

from workers.turns import Image, Message, Text, Tool, ToolCall, ToolChoice, ToolResult

# finish_reason -> the normalised stop reason (`workers.providers.base.STOP_REASONS`)
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}


def messages(items: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in items:
        if not m.blocks:
            out.append({"role": m.role, "content": m.content})
        elif m.role == "assistant":
            calls = [{"id": b.id, "type": "function",
                      "function": {"name": b.name, "arguments": json.dumps(b.arguments)}}
                     for b in m.blocks if isinstance(b, ToolCall)]
            message: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if calls:
                message["tool_calls"] = calls
            out.append(message)
        else:
            out.extend({"role": "tool", "tool_call_id": b.tool_call_id,
                        "content": b.content or ("error" if b.is_error else "")}
                       for b in m.blocks if isinstance(b, ToolResult))
            parts: list[dict[str, Any]] = []
            for b in m.blocks:
                if isinstance(b, Text):
                    parts.append({"type": "text", "text": b.text})
                elif isinstance(b, Image):
                    parts.append({"type": "image_url", "image_url": {"url": b.data_url}})
            if parts:
                only_text = all(p["type"] == "text" for p in parts)
                out.append({"role": "user", "content": m.content if only_text else parts})
    return out


def tools(items: tuple[Tool, ...]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in items]


def tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return "required" if choice.mode == "any" else choice.mode


def tool_calls(raw: list[Any] | None) -> tuple[ToolCall, ...]:
    """An answer's `tool_calls` (SDK objects or dicts), arguments parsed (a call whose
    arguments are not a JSON object keeps them as `{"_raw": text}`)."""
    out = []
    for i, call in enumerate(raw or ()):
        data = call if isinstance(call, dict) else call.model_dump()
        fn = data.get("function") or {}
        text = fn.get("arguments") or "{}"
        try:
            args = json.loads(text)
        except ValueError:
            args = None
        out.append(ToolCall(str(data.get("id") or f"call_{i}"), str(fn.get("name") or ""),
                            args if isinstance(args, dict) else {"_raw": text}))
    return tuple(out)


def stop_reason(finish_reason: str | None) -> str | None:
    return STOP_REASONS.get(finish_reason or "", finish_reason)
