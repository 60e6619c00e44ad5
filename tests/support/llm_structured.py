"""Native structured output on the test LLM server's wire formats.

- Anthropic: a request whose `tool_choice` forces one tool (`{"type": "tool", "name"}`)
  is answered with that tool's `tool_use` block, its input the reply parsed as JSON (a
  reply that is no JSON object stays a text block, as a model that ignores the tool).
- OpenAI style: `response_format: {"type": "json_schema", ...}` is answered in the
  message content, like any reply.
- The default reply of a request that asks for a schema (either mechanism, or the
  `<json-schema>` block of the prompt convention) is a JSON document valid against it
  (`workers.providers.schema_instance`), so typed tasks run against the server unscripted.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.support import llm_wire as wire
from workers.contract import find_schema
from workers.providers.schema_instance import schema_instance


def forced_tool(api: wire.Api, body: dict[str, Any]) -> str | None:
    """The tool an Anthropic request forces (None: none)."""
    choice = body.get("tool_choice")
    if api != "anthropic" or not isinstance(choice, dict) or choice.get("type") != "tool":
        return None
    name = choice.get("name")
    return name if isinstance(name, str) else None


def requested_schema(api: wire.Api, body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the request asks the reply to follow, by whichever mechanism."""
    tool = forced_tool(api, body)
    if tool is not None:
        for t in body.get("tools") or ():
            if isinstance(t, dict) and t.get("name") == tool:
                schema = t.get("input_schema")
                return schema if isinstance(schema, dict) else None
    fmt = body.get("response_format")
    if api == "openai" and isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else None
    prompt = wire.read_prompt(api, body)
    texts = [prompt.system or ""] + [json.dumps(m) for m in body.get("messages") or ()]
    return find_schema(texts)


def schema_reply(api: wire.Api, body: dict[str, Any]) -> str | None:
    """A JSON document valid against the requested schema (None: none requested)."""
    schema = requested_schema(api, body)
    if schema is None:
        return None
    seed = int.from_bytes(hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True)
                                         .encode()).digest()[:8], "big")
    return json.dumps(schema_instance(schema, seed))


def tool_use_content(name: str, text: str, seq: int) -> list[dict[str, Any]] | None:
    """The content of a forced tool's answer (None: `text` is no JSON object)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return [{"type": "tool_use", "id": f"toolu_test_{seq:08d}", "name": name, "input": value}]
