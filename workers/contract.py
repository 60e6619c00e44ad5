"""The contract between tasks and execution: what a task asks of a model.

Neutral ground, below the providers and the execution layer, so that each side reads it
without importing the other:
- `Message` and `Call`: a task's kwargs turned into a model call (model key, system,
  messages, max_tokens);
- `WorkSpec`: what every task's spec offers (`parse` kwargs into a `Call`, `parse_output`
  the model's text into the task's output, or raise `OutputInvalidError`; `compare` two
  outputs for a shadow trial, `Comparison`);
- typed outputs (`OutputSchema`): on a model that supports `structured_output` the
  provider's own mechanism (Anthropic: the forced tool `OUTPUT_TOOL` whose input schema
  is the output's; OpenAI-compatible: `response_format` with a strict JSON schema);
  elsewhere the prompt convention: the system prompt ends with the output's JSON Schema
  between `<json-schema>` markers (`json_schema_block`), which the simulated provider
  reads (`find_schema`) so that typed tasks also run offline (`Call.system_for`);
- the names of LLM tasks and the facts a producer routes them by (`send_facts`), so that
  a producer routes at send time from the task name and kwargs alone, without importing
  the task modules.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from routing.config.kinds import Capability
from routing.config.models import RoutingConfig
from routing.tokens import estimate_tokens
from workers.errors import TaskInputError
from workers.turns import (
    Image,
    Message,
    Role,
    Tool,
    ToolChoice,
    extra_tokens,
    messages_to_json,
    normalise,
    raw_extra_tokens,
    tool_choice_to_json,
    tools_to_json,
)

__all__ = [
    "DEFAULT_QUEUE", "OUTPUT_TOOL", "RUN_TASK", "TYPED_PREFIX", "Call", "Comparison",
    "Message", "OutputSchema", "Role", "Verdict", "WorkSpec", "find_schema", "input_error",
    "json_schema_block", "send_facts", "send_needs",
]

# Celery's default queue: where a foreign producer's `send_task` lands (a dispatching
# tier's workers consume it and route what they find there).
DEFAULT_QUEUE = "celery"
RUN_TASK = "llm.run"
# Every typed task is named `tasks.<model key>` and serves that model key.
TYPED_PREFIX = "tasks."

SCHEMA_OPEN = "<json-schema>"
SCHEMA_CLOSE = "</json-schema>"
_SCHEMA = re.compile(re.escape(SCHEMA_OPEN) + r"(.*?)" + re.escape(SCHEMA_CLOSE), re.DOTALL)


_STRUCTURED = frozenset({Capability.structured_output})
# The name of the forced tool that carries a typed output on Anthropic models (its input
# is the output): reserved, a task's own tools never take it.
OUTPUT_TOOL = "structured_output"


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """A typed task's output, as native structured output asks for it: `name` (the output
    model's, `^[A-Za-z0-9_-]{1,64}$` as both APIs want) and its JSON Schema (narrowed for
    the input: offered labels, ids...)."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    model_key: str
    messages: tuple[Message, ...]
    system: str | None
    max_tokens: int | None  # None: the model key's default
    # The validated input the spec parsed (typed tasks check their output against it).
    given: Any = None
    # A typed task's output (None: free text). `system` is then the instruction alone:
    # `system_for` adds the schema block where native structured output is not used.
    output: OutputSchema | None = None
    # An agent turn's tools and tool choice (`workers.turns`): none for a text call.
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None

    def native_output(self, config: RoutingConfig, model: str) -> OutputSchema | None:
        """The output to ask `model` for natively (None: free text, or a model without
        `structured_output`, which gets the prompt convention)."""
        if self.output is None or not config.models[model].can(_STRUCTURED):
            return None
        return self.output

    def system_for(self, native: bool) -> str | None:
        """The system prompt of a call with native structured output (`native`) or with
        the prompt convention (the output's schema block at its end)."""
        if self.output is None or native:
            return self.system
        block = json_schema_block(self.output.schema)
        return f"{self.system}\n\n{block}" if self.system else block

    @property
    def needs(self) -> frozenset[Capability]:
        """What a model must support to take this call: tools given -> `tools`, image
        blocks in the messages -> `images` (text messages need nothing). A typed task's
        output schema needs nothing: it falls back to the prompt convention on a model
        without `structured_output`. The router skips models that lack a need."""
        needs = set()
        if self.tools or any(m.tool_calls for m in self.messages):
            needs.add(Capability.tools)
        if any(isinstance(b, Image) for m in self.messages for b in m.blocks):
            needs.add(Capability.images)
        return frozenset(needs)

    @property
    def input_tokens(self) -> int:
        """Estimated input tokens: text, plus tool definitions, tool calls and results,
        and images (`workers.turns.extra_tokens`)."""
        text = estimate_tokens(
            messages=[{"content": m.content} for m in self.messages],
            system=self.system_for(native=False),
        )
        return text + extra_tokens(self.messages, self.tools)


def call_document(call: Call) -> dict[str, Any]:
    """`call` as JSON-able data (what a recorded sample keeps): every field of `Call`, so
    a field added to it is kept too; dataclasses become mappings, tuples lists and the
    validated input (`given`, a pydantic model) its JSON dump. Never credentials: a Call
    holds none. The turn (messages, tools, tool choice) is kept in its JSON form (the
    Anthropic shape, `workers.turns`), which `call_from_document` normalises back."""
    doc = {f.name: _plain(getattr(call, f.name)) for f in dataclasses.fields(call)}
    doc["messages"] = messages_to_json(call.messages)
    doc["tools"] = tools_to_json(call.tools)
    doc["tool_choice"] = tool_choice_to_json(call.tool_choice) if call.tool_choice else None
    return doc


def call_from_document(data: dict[str, Any], given: Any = None) -> Call:
    """The `Call` of `call_document`'s data; `given`: the validated input, rebuilt by the
    task's spec (the document keeps it as JSON). A field this version does not know is
    dropped; a field it has that the document lacks takes its default."""
    names = {f.name for f in dataclasses.fields(Call)}
    values: dict[str, Any] = {k: v for k, v in data.items() if k in names}
    turn = normalise([{"role": m["role"], "content": m["content"]}
                      for m in data.get("messages") or ()],
                     data.get("tools") or None, data.get("tool_choice"))
    values["messages"], values["tools"] = turn.messages, turn.tools
    values["tool_choice"] = turn.tool_choice
    values["given"] = given
    if isinstance(values.get("output"), dict):
        values["output"] = OutputSchema(**values["output"])
    for name, value in values.items():
        if isinstance(value, list):
            values[name] = tuple(value)
    return Call(**values)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


Verdict = Literal["agree", "disagree", "candidate_invalid"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """A shadow trial's verdict on a candidate's output against the production one."""

    verdict: Verdict
    fields: tuple[str, ...] = ()  # the compared fields that differ

    @property
    def agrees(self) -> bool:
        return self.verdict == "agree"


class WorkSpec(Protocol):
    def parse(self, kwargs: dict[str, Any], config: RoutingConfig) -> Call:
        """The call for these kwargs; raise `TaskInputError` naming the field."""
        ...

    def compare(
        self, production: dict[str, Any], candidate: dict[str, Any] | None
    ) -> Comparison | None:
        """The verdict on a candidate's parsed output (None: it had no valid one) against
        the production output; None when outputs are free text (a judge compares them)."""
        ...

    def parse_output(self, text: str, call: Call, config: RoutingConfig) -> dict[str, Any]:
        """The task's output; raise `OutputInvalidError` if the text does not fit the
        output model or the input (a label that was not offered, a step naming no key)."""
        ...


def input_error(
    task: str, exc: ValidationError, accepted: Iterable[str] = ()
) -> TaskInputError:
    """One message naming every bad field, e.g. `llm.run: prompt: must not be empty`; an
    unknown keyword argument is named with the `accepted` ones. Input values are not
    echoed (a prompt may be private)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        # (a mapping key's own error is marked `[key]`; a key may hold any text)
        loc = ".".join(str(p) for p in err["loc"] if p != "[key]")
        loc = loc.encode("utf-8", "backslashreplace").decode("utf-8")
        loc += " (a key)" if err["loc"][-1:] == ("[key]",) else ""
        msg = err["msg"]
        if err["type"] == "extra_forbidden" and len(err["loc"]) == 1 and accepted:
            msg = f"unknown keyword argument (known: {', '.join(accepted)})"
        # (an error of the whole input, e.g. `prompt` and `messages` both given, names its
        # fields itself)
        parts.append(f"{loc}: {msg}" if loc else msg)
    return TaskInputError(f"{task}: invalid input: " + "; ".join(parts))


# -- the prompt convention of typed outputs ------------------------------------------------

def json_schema_block(schema: dict[str, Any]) -> str:
    """Text that asks for one JSON object matching `schema`, in the form `find_schema`
    (and so the simulated provider) reads."""
    return (
        "Reply with one JSON object, and nothing else, that validates against this JSON "
        f"schema:\n{SCHEMA_OPEN}\n{json.dumps(schema, sort_keys=True)}\n{SCHEMA_CLOSE}"
    )


def find_schema(texts: Iterable[str]) -> dict[str, Any] | None:
    """The last `<json-schema>` block holding a JSON object among `texts`, or None."""
    found: dict[str, Any] | None = None
    for text in texts:
        for match in _SCHEMA.finditer(text):
            try:
                value = json.loads(match.group(1))
            except ValueError:
                continue
            if isinstance(value, dict):
                found = value
    return found


# -- what a producer routes by --------------------------------------------------------------

def send_facts(name: str, kwargs: dict[str, Any] | None) -> tuple[str, int] | None:
    """(model key, estimated input tokens) of an LLM task sent as `name` with `kwargs`, or
    None for any other task (or kwargs that name no model key).

    An estimate, for the send-time router only: the worker validates the input and, if
    the exact size routes elsewhere on its first arrival, routes again (`policy._arrived`).
    Typed tasks count their kwargs as the JSON they are rendered into; the system prompt
    (instruction and schema) is small beside the thresholds rules use.
    """
    kwargs = kwargs or {}
    if name == RUN_TASK:
        key = kwargs.get("model_key")
        if not isinstance(key, str):
            return None
        prompt, system, messages = (kwargs.get(k) for k in ("prompt", "system", "messages"))
        tokens = estimate_tokens(
            prompt=prompt if isinstance(prompt, str) else None,
            messages=[m for m in messages if isinstance(m, dict)
                      and isinstance(m.get("content"), str | list)]
            if isinstance(messages, list) else None,
            system=system if isinstance(system, str) else None,
        )
        # tool definitions, tool calls and results, images: the 50,000-token rule and the
        # context windows see the real size
        return key, tokens + raw_extra_tokens(messages, kwargs.get("tools"))
    if name.startswith(TYPED_PREFIX):
        try:
            rendered = json.dumps(kwargs, indent=1, ensure_ascii=False, default=str)
        except ValueError:
            rendered = ""
        return name[len(TYPED_PREFIX):], estimate_tokens(prompt=rendered)
    return None


def send_needs(name: str, kwargs: dict[str, Any] | None) -> frozenset[Capability]:
    """What an `llm.run` sent as `name` with `kwargs` needs of its model (`Call.needs`,
    read from the raw kwargs: tools, tool calls or results -> `tools`, image blocks ->
    `images`), so that the send-time router passes over models without it too."""
    if name != RUN_TASK or not kwargs:
        return frozenset()
    needs = set()
    if kwargs.get("tools"):
        needs.add(Capability.tools)
    messages = kwargs.get("messages")
    for m in messages if isinstance(messages, list) else ():
        if not isinstance(m, dict):
            continue
        if m.get("tool_calls") or m.get("role") == "tool":
            needs.add(Capability.tools)
        content = m.get("content")
        for part in content if isinstance(content, list) else ():
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("image", "image_url"):
                needs.add(Capability.images)
            elif kind in ("tool_use", "tool_result"):
                needs.add(Capability.tools)
    return frozenset(needs)
