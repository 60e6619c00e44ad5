"""The demo's agent loop: a three-turn tool-calling conversation through `llm.run`.

After the day is played, one agent runs the loop a foreign app runs (docs/agent-turns.md):
each turn sends the conversation and two tools, runs the tools the model calls and sends
their results back, until the model answers in text. On the simulated provider the model
calls each tool the user's message names, then answers: three turns, routed, budgeted and
charged like any call.
"""

from __future__ import annotations

import json
from typing import Any

MODEL_KEY = "orchestration"
ASK = "Use get_weather for Paris, then get_time for Paris."
TOOLS = [{"type": "function", "function": {
    "name": name, "description": f"{name.replace('get_', '').title()} of a city",
    "parameters": {"type": "object", "properties": {arg: {"type": "string"}},
                   "required": [arg]}}}
    for name, arg in (("get_weather", "city"), ("get_time", "zone"))]
MAX_TURNS = 6


_ANSWERS: dict[str, dict[str, Any]] = {"get_weather": {"sky": "clear", "celsius": 21},
                                      "get_time": {"time": "14:00"}}


def _tool(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps({**_ANSWERS.get(name, {}), **arguments})


def run(app: Any, timeout: float) -> dict[str, Any]:
    """Play the loop on `app`; its turns (stop reason, tools called, model) and cost."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": ASK}]
    turns: list[dict[str, Any]] = []
    for _ in range(MAX_TURNS):
        out = app.send_task("llm.run", kwargs={"model_key": MODEL_KEY, "messages": messages,
                                               "tools": TOOLS}).get(
            timeout=timeout, disable_sync_subtasks=False)
        turns.append({"stop_reason": out["stop_reason"], "model": out["model"],
                      "tools": [c["name"] for c in out["tool_calls"]],
                      "cost_micros": out["cost_micros"], "text": out["text"]})
        if out["stop_reason"] != "tool_use":
            break
        messages.append({"role": "assistant", "content": out["text"] or None, "tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for c in out["tool_calls"]]})
        messages += [{"role": "tool", "tool_call_id": c["id"],
                      "content": _tool(c["name"], c["arguments"])} for c in out["tool_calls"]]
    return {"model_key": MODEL_KEY, "turns": turns,
            "cost_micros": sum(t["cost_micros"] for t in turns)}


def line(loop: dict[str, Any]) -> str:
    """The loop in words."""
    steps = " -> ".join(f"{t['stop_reason']}" + (f" {'+'.join(t['tools'])}" if t["tools"]
                                                  else "") for t in loop["turns"])
    models = sorted({t["model"] for t in loop["turns"]})
    return (f"agent loop ({loop['model_key']}, 2 tools, {len(loop['turns'])} turns on "
            f"{', '.join(models)}): {steps}; ${loop['cost_micros'] / 1e6:.6f}")
