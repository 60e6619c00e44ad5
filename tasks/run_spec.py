"""`llm.run`: a prompt (or messages) for a model key, text back.

`RunInput` is what the task takes, `RunResult` what it returns (and what every typed task
returns, plus its `output`); docs/tasks.md is generated from them (`python -m
tasks.reference`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from routing.config.models import RoutingConfig
from routing.config.values import Text, text
from workers.contract import OUTPUT_TOOL, Call, Comparison, Message, input_error
from workers.turns import Turn, TurnError, normalise


class ChatMessage(BaseModel):
    """One message of a conversation, in the OpenAI or the Anthropic shape (normalised
    once, `workers.turns`). Leading `system` messages (OpenAI style) are the system
    prompt."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"] = Field(
        description="`system` only before every user and assistant message; `tool`: an "
                    "OpenAI-style tool result (with `tool_call_id`)")
    content: Annotated[StrictStr | list[dict[str, Any]] | None, BeforeValidator(text)] = Field(
        default=None,
        description="the message text, or a list of content blocks: `text`, `image` "
                    "(Anthropic `source` base64/url) or `image_url` (OpenAI, a data URL or "
                    "link), `tool_use` (an assistant's tool call), `tool_result` (its result, "
                    "in a user message); images: JPEG, PNG, GIF or WebP, at most 5 MB")
    tool_calls: list[dict[str, Any]] | None = Field(
        default=None, description="an assistant's tool calls, OpenAI style (`{\"id\", "
                                  "\"type\": \"function\", \"function\": {\"name\", "
                                  "\"arguments\"}}`)")
    tool_call_id: Text | None = Field(
        default=None, description="a `tool` message: the id of the tool call it answers")
    name: Text | None = Field(default=None, description="ignored (OpenAI's optional name)")


class RunInput(BaseModel):
    """The kwargs of `llm.run`: `prompt` or `messages`, for a model key; `tools` for an
    agent turn."""

    model_config = ConfigDict(extra="forbid")
    model_key: Text = Field(
        min_length=1,
        description="the kind of work (e.g. `code_review`); the routing config maps it to a "
                    "model, tier and queue")
    prompt: Text | None = Field(
        default=None, description="the user message; give `prompt` or `messages`")
    messages: list[ChatMessage] | None = Field(
        default=None,
        description="a conversation (`[{\"role\": \"user\", \"content\": \"...\"}, ...]`), "
                    "content blocks and tool calls and results in the OpenAI or the Anthropic "
                    "shape; leading `system` messages are joined into the system prompt; a "
                    "tool result must answer an earlier tool call's id")
    system: Text | None = Field(
        default=None, description="the system prompt (not with a `system` message)")
    max_tokens: StrictInt | None = Field(
        default=None, ge=1, le=200_000,
        description="output limit; default: the model key's `max_tokens` in the config (a "
                    "call is clamped to its model's output limit)")
    tools: list[dict[str, Any]] | None = Field(
        default=None,
        description="tools the model may call: OpenAI (`{\"type\": \"function\", "
                    "\"function\": {\"name\", \"description\", \"parameters\"}}`) or "
                    "Anthropic (`{\"name\", \"description\", \"input_schema\"}`) shape; "
                    "the arguments' schema is a JSON Schema of an object")
    tool_choice: Text | dict[str, Any] | None = Field(
        default=None,
        description="`auto` (default), `any` (or `required`: some tool), `none`, or one tool "
                    "(its name, or `{\"type\": \"tool\", \"name\"}` / `{\"type\": "
                    "\"function\", \"function\": {\"name\"}}`)")
    _turn: Turn | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_of(self) -> RunInput:
        if self.prompt is None and not self.messages:
            raise _invalid("give `prompt` (a string) or `messages` (a list of role/content)")
        if self.prompt is not None and self.messages:
            raise _invalid("give either `prompt` or `messages`, not both")
        if self.prompt is not None and not self.prompt.strip():
            raise _invalid("`prompt` must not be empty")
        if self.messages:
            _check_system_messages(self.messages, self.system)
        first = len(self._leading_system())
        raw = ([{"role": "user", "content": self.prompt}] if self.prompt is not None else
               [m.model_dump(exclude_none=True) for m in (self.messages or [])[first:]])
        try:
            self._turn = normalise(raw, self.tools, self.tool_choice, first_index=first)
        except TurnError as exc:
            raise _invalid(str(exc).replace("{", "{{").replace("}", "}}")) from None
        for i, tool in enumerate(self._turn.tools):
            if tool.name == OUTPUT_TOOL:
                raise _invalid(f"tools.{i}: the name `{OUTPUT_TOOL}` is reserved (typed tasks' "
                               "native structured output): rename the tool")
        return self

    def system_prompt(self) -> str | None:
        """`system`, or the leading system messages joined by blank lines."""
        leading = [str(m.content) for m in self._leading_system()]
        return "\n\n".join(leading) if leading else self.system

    def turn(self) -> Turn:
        """The conversation, tools and tool choice, normalised (the prompt as one user
        message)."""
        assert self._turn is not None
        return self._turn

    def conversation(self) -> tuple[Message, ...]:
        """The user and assistant messages (the prompt as one user message)."""
        return self.turn().messages

    def _leading_system(self) -> list[ChatMessage]:
        messages = self.messages or []
        n = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
        return messages[:n]


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_run_input", message)


def _check_system_messages(messages: list[ChatMessage], system: str | None) -> None:
    roles = [m.role for m in messages]
    for i, m in enumerate(messages):
        if m.role == "tool" and m.tool_call_id is None:
            raise _invalid(f"messages.{i}.tool_call_id: a `tool` message needs the id of "
                           "the tool call it answers")
        if m.role != "tool" and m.tool_call_id is not None:
            raise _invalid(f"messages.{i}.tool_call_id: only a `tool` message has one")
        if m.role == "system" and not (isinstance(m.content, str) and m.content):
            raise _invalid(f"messages.{i}.content: a system message's content is a "
                           "non-empty string")
    if "system" not in roles:
        return
    if system is not None:
        raise _invalid("give the system prompt once: `system`, or a leading "
                       "{\"role\": \"system\"} message in `messages`, not both")
    first_other = next((i for i, r in enumerate(roles) if r != "system"), None)
    if first_other is None:
        raise _invalid("`messages` holds only system messages: add a user message")
    late = [i for i, r in enumerate(roles) if r == "system" and i > first_other]
    if late:
        raise _invalid(f"messages[{late[0]}]: a system message must come before every user "
                       "and assistant message (or give it as `system`)")


class Usage(BaseModel):
    """Tokens of the last provider call, as the provider counted them."""

    input_tokens: int = Field(ge=0, description="uncached input tokens")
    output_tokens: int = Field(ge=0)
    cache_read_tokens: int = Field(ge=0, description="input tokens read from the prompt cache")
    cache_write_tokens: int = Field(ge=0, description="input tokens written to the cache")


class RouteHop(BaseModel):
    """One move of the task to another model (or, `direct`, from its provider batch to a
    direct call on the same model)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: Literal["fallback", "escalate", "downgrade", "reroute", "direct", "skip"] = Field(
        description="`fallback`: the model kept failing (or is cooling down, or has no API "
        "key); `escalate`: its output failed validation, on to the key's `escalate_to`; "
        "`downgrade`: a budget with policy `downgrade` had no room; `reroute`: the routed "
        "model (or the message's route header) no longer holds, routed again; `direct`: its "
        "provider batch never answered, called directly; `skip`: `from` was passed over for "
        "lacking a capability the call needs (`reason`: e.g. `lacks tools`) on the way to `to`")
    from_: str = Field(alias="from", description="the model moved away from (empty when a "
                       "refused route header named none)")
    to: str = Field(description="the model moved to (`direct`: the same model)")
    reason: str = Field(description="why, e.g. the provider's error (at most 300 characters)")


class ToolCallOut(BaseModel):
    """A tool call of the model's answer."""

    id: str = Field(description="the call's id: a tool result answers it by this id (kept "
                                "as is across providers)")
    name: str = Field(description="the tool called")
    arguments: dict[str, Any] = Field(description="its arguments, parsed JSON")


class RunResult(BaseModel):
    """What `llm.run` returns, in this order (every typed task returns the same, plus
    `output`): the routing facts first, the text last."""

    model_key: str = Field(description="the model key asked for")
    model: str = Field(description="the model that answered (catalog name)")
    cost_usd: float = Field(description="cost of every provider call of this task, USD "
                                        "(display; `cost_micros` is exact)")
    tier: str = Field(description="the tier of that model")
    queue: str = Field(description="the queue the task ran from (its tier's queue)")
    usage: Usage = Field(description="tokens of the last call")
    agent: str | None = Field(default=None, description="the agent that asked (kwarg or "
                              "header `agent`; absent when not attributed)")
    run_id: str | None = Field(default=None, description="the run the call belongs to "
                               "(kwarg or header `run_id`)")
    tags: dict[str, str] | None = Field(default=None, description="the call's tags")
    rule: str = Field(description="what chose the model: `default`, a rule's name, "
                                  "`fallback`, `budget_downgrade`")
    cost_micros: int = Field(description="cost of every call of this task, micro-dollars")
    last_call_cost_micros: int = Field(description="cost of the last call, micro-dollars")
    config_version: int = Field(description="routing config version of the last decision")
    attempts: int = Field(description="provider calls made (retries, fallbacks, escalations "
                                      "included)")
    provider_mode: Literal["live", "simulated"] = Field(
        description="`simulated`: LLM_ROUTER_PROVIDER_MODE=simulated, no real call")
    request_id: str | None = Field(description="the provider's request id")
    latency_s: float = Field(description="seconds the last call took (from a provider "
                                         "batch: from its submission to its end)")
    batch_id: str | None = Field(
        default=None, description="the provider batch that answered the last call (a model "
        "key with `batch`; absent for a direct call)")
    task_id: str = Field(description="the Celery task id (the same across every hop)")
    fallback_from: list[str] | None = Field(
        default=None, description="models left behind after failures, in order")
    escalated_from: list[str] | None = Field(
        default=None, description="models whose output failed validation, in order")
    rerouted: bool | None = Field(
        default=None, description="true: the routed model left the config; routed again")
    downgraded_from: str | None = Field(
        default=None, description="the model a budget refusal moved away from")
    deferrals: int | None = Field(
        default=None, description="times the task waited for a budget window")
    hops: list[RouteHop] | None = Field(
        default=None,
        description="every move to another model, in order, the latest 32 (see `RouteHop`)")
    stop_reason: str | None = Field(
        description="why the model stopped, normalised across providers: `end_turn`, "
                    "`tool_use` (it called tools: see `tool_calls`), `max_tokens`, "
                    "`stop_sequence`, `refusal`, `pause_turn` (None: not said)")
    tool_calls: list[ToolCallOut] = Field(
        description="the tools the model called, in order (empty when it answered in text); "
                    "send each one's result back with its `id`")
    text: str = Field(description="the model's answer (may be empty when it called tools)")


class TypedResult(RunResult):
    """What a typed task returns: the `llm.run` result and the validated output."""

    structured_output: Literal["native", "prompt"] = Field(
        description="how the output was asked for on the answering model: `native`, the "
        "provider's structured output (its `supports` lists `structured_output`: an "
        "Anthropic forced tool, OpenAI-compatible `response_format` with a strict JSON "
        "schema); `prompt`, the output's JSON Schema in the system prompt")
    output: dict[str, Any] = Field(description="the task's output model, validated (see "
                                               "each task)")


class RunSpec:
    name = "llm.run"

    def parse(self, kwargs: dict[str, Any], config: RoutingConfig) -> Call:
        try:
            data = RunInput.model_validate(kwargs)
        except ValidationError as exc:
            raise input_error(self.name, exc, RunInput.model_fields) from None
        turn = data.turn()
        return Call(data.model_key, turn.messages, data.system_prompt(), data.max_tokens,
                    tools=turn.tools, tool_choice=turn.tool_choice)

    def compare(
        self, production: dict[str, Any], candidate: dict[str, Any] | None
    ) -> Comparison | None:
        """Free text: only a judge compares two answers."""
        return None if candidate is not None else Comparison("candidate_invalid")

    def parse_output(self, text: str, call: Call, config: RoutingConfig) -> dict[str, Any]:
        return {}
