"""Wire formats of the test LLM server: token counts, success and error bodies.

Token formula (deterministic; tests recompute costs from it):
- `tokens(text) = ceil(len(text) / 4)` (characters, not bytes).
- system tokens `S = tokens(system)`, where `system` is the system string, or the
  concatenation of the text of its blocks (Anthropic), or of the `system`/`developer`
  messages joined by "\\n" (OpenAI style). No per-message overhead for the system.
- every other message: `tokens(content) + 4` (content blocks' text concatenated).
- prompt total `P = S + sum(messages)`; this equals `routing.tokens.estimate_tokens`.
- output tokens `O = tokens(reply)`; a reply longer than `max_tokens * 4` characters is
  cut to that length (`O = max_tokens`, stop reason `max_tokens` / `length`).
- cache (Anthropic): when a system block (or the request) has `cache_control` and
  `S >= min_cache_tokens`, the first request for (model, system) reports
  `cache_creation_input_tokens = S`, later ones `cache_read_input_tokens = S`; then
  `input_tokens = P - S`. Otherwise `input_tokens = P` and both cache fields are 0.
- agent turns (a request with `tools`, and no reply set for its model): answered as the
  simulated provider answers them (`workers.providers.simulated_tools.tool_turn`, on the
  request read back into the neutral form): a call of the tool the last user message
  names (`tool_use` / `tool_calls`), or text once that tool's result is in.
- cache (OpenAI style): from the second request with the same (path, model, system) and
  `S >= min_cache_tokens`, `prompt_tokens_details.cached_tokens = S` (included in
  `prompt_tokens = P`, as those providers do); otherwise 0.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from workers.contract import OUTPUT_TOOL
from workers.providers.simulated_tools import tool_turn
from workers.turns import ToolCall, TurnError, normalise

Api = Literal["anthropic", "openai"]
MESSAGE_OVERHEAD = 4

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


def tokens(text: str) -> int:
    return -(-len(text) // 4)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


@dataclass(frozen=True)
class Prompt:
    """What the token formula needs from a request body."""

    system: str | None
    cache_control: bool
    message_tokens: int
    message_count: int

    @property
    def system_tokens(self) -> int:
        return tokens(self.system) if self.system else 0

    @property
    def total_tokens(self) -> int:
        return self.system_tokens + self.message_tokens


def read_prompt(api: Api, body: dict[str, Any]) -> Prompt:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    cache = False
    if api == "anthropic":
        raw = body.get("system")
        if isinstance(raw, list):
            blocks = [b for b in raw if isinstance(b, dict)]
            system: str | None = "".join(str(b.get("text", "")) for b in blocks)
            cache = any(b.get("cache_control") for b in blocks)
        else:
            system = raw if isinstance(raw, str) else None
        cache = cache or bool(body.get("cache_control"))
    else:
        sys_msgs = [m for m in messages if m.get("role") in ("system", "developer")]
        messages = [m for m in messages if m not in sys_msgs]
        system = "\n".join(_text(m.get("content")) for m in sys_msgs) if sys_msgs else None
    return Prompt(
        system=system,
        cache_control=cache,
        message_tokens=sum(tokens(_text(m.get("content"))) + MESSAGE_OVERHEAD for m in messages),
        message_count=len(messages),
    )


def cut(reply: str, max_tokens: int | None) -> tuple[str, bool]:
    """The reply within `max_tokens` (and whether it was cut)."""
    if max_tokens is not None and len(reply) > max_tokens * 4:
        return reply[: max_tokens * 4], True
    return reply, False


def anthropic_usage(prompt: Prompt, output: int, *, cached: bool | None) -> dict[str, int]:
    """`cached`: None = no caching asked, False = cache write, True = cache read."""
    s = prompt.system_tokens if cached is not None else 0
    return {
        "input_tokens": prompt.total_tokens - s,
        "output_tokens": output,
        "cache_creation_input_tokens": s if cached is False else 0,
        "cache_read_input_tokens": s if cached else 0,
    }


def openai_usage(prompt: Prompt, output: int, *, cached: bool) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt.total_tokens,
        "completion_tokens": output,
        "total_tokens": prompt.total_tokens + output,
        "prompt_tokens_details": {"cached_tokens": prompt.system_tokens if cached else 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def tool_answer(api: Api, body: dict[str, Any]) -> tuple[str, tuple[ToolCall, ...]] | None:
    """(text, tool calls) of an agent turn's answer; None: not one (no tools, or the
    simulated rules answer it in plain text)."""
    choice = body.get("tool_choice")
    if not body.get("tools") or (isinstance(choice, dict) and choice.get("name") == OUTPUT_TOOL):
        return None  # (a typed task's native structured output: `llm_structured`)
    messages = [m for m in body.get("messages") or []
                if not (isinstance(m, dict) and m.get("role") in ("system", "developer"))]
    try:
        turn = normalise(messages, body.get("tools"), body.get("tool_choice"))
    except TurnError:
        return None
    answer = tool_turn(turn.messages, turn.tools, turn.tool_choice)
    return None if answer is None else (answer[0], answer[1])


def success_body(api: Api, *, model: str, text: str, truncated: bool, usage: dict[str, Any],
                 seq: int, tool_calls: tuple[ToolCall, ...] = ()) -> dict[str, Any]:
    if api == "anthropic":
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text or not \
            tool_calls else []
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                    for c in tool_calls]
        return {
            "id": f"msg_test_{seq:08d}", "type": "message", "role": "assistant", "model": model,
            "content": content,
            "stop_reason": "tool_use" if tool_calls else
            "max_tokens" if truncated else "end_turn",
            "stop_sequence": None, "usage": usage,
        }
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in tool_calls]
    return {
        "id": f"chatcmpl-test-{seq:08d}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{
            "index": 0, "message": message,
            "finish_reason": "tool_calls" if tool_calls else "length" if truncated else "stop",
            "logprobs": None,
        }],
        "usage": usage,
    }


def error_body(api: Api, status: int, error_type: str | None, message: str) -> dict[str, Any]:
    kind = error_type or ERROR_TYPES.get(status, "api_error")
    if api == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}
