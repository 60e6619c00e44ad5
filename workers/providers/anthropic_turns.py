"""The neutral turn (`workers.turns`) in the Anthropic Messages API's shape, and back.

Content blocks map one to one: text, image (base64 or URL source), `tool_use` (an
assistant's tool call: its id made acceptable to Anthropic by `wire_id`, the same way on
the call and on its result, so a conversation begun on another provider carries on here),
`tool_result`. Tools are `{name, description, input_schema}`; tool choice `{type: auto |
any | none | tool}`. The answer's `tool_use` blocks become `ToolCall`s.
"""

from __future__ import annotations

from typing import Any

from workers.turns import (
    Block,
    Image,
    Message,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    wire_id,
)


def block(b: Block) -> dict[str, Any]:
    if isinstance(b, Text):
        return {"type": "text", "text": b.text}
    if isinstance(b, Image):
        if b.url is not None:
            return {"type": "image", "source": {"type": "url", "url": b.url}}
        return {"type": "image",
                "source": {"type": "base64", "media_type": b.media_type, "data": b.data}}
    if isinstance(b, ToolCall):
        return {"type": "tool_use", "id": wire_id(b.id), "name": b.name, "input": b.arguments}
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": wire_id(b.tool_call_id),
                           "content": b.content}
    if b.is_error:
        out["is_error"] = True
    return out


def messages(items: tuple[Message, ...]) -> list[dict[str, Any]]:
    """The `messages` parameter (a plain text message keeps its string content)."""
    return [{"role": m.role, "content": [block(b) for b in m.blocks]} if m.blocks
            else {"role": m.role, "content": m.content} for m in items]


def tools(items: tuple[Tool, ...]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in items]


def tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "tool", "name": choice.name}
    return {"type": choice.mode}


def tool_calls(content: list[dict[str, Any]]) -> tuple[ToolCall, ...]:
    """The `tool_use` blocks of an answer's content."""
    return tuple(
        ToolCall(str(b.get("id") or ""), str(b.get("name") or ""),
                 b["input"] if isinstance(b.get("input"), dict) else {})
        for b in content if isinstance(b, dict) and b.get("type") == "tool_use"
    )
