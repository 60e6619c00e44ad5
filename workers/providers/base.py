"""The provider interface: a completion request in, a completion with normalized usage out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from routing.prices.pricing import Usage
from workers.contract import Message, OutputSchema
from workers.turns import Tool, ToolCall, ToolChoice

__all__ = ["STOP_REASONS", "Completion", "CompletionRequest", "Message", "OutputSchema",
           "Provider"]

# The normalised stop reasons of a completion (Anthropic's names; OpenAI's `stop`,
# `length`, `tool_calls`, `content_filter` map to `end_turn`, `max_tokens`, `tool_use`,
# `refusal`).
STOP_REASONS = ("end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "pause_turn")


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One call. `model` is the provider's own model id (from the catalog)."""

    model: str
    messages: tuple[Message, ...]
    max_tokens: int
    system: str | None = None
    # Ask the provider to cache the (long, stable) system prompt where it supports it.
    cache_system: bool = False
    timeout: float | None = None
    # Native structured output: the reply is one JSON document valid against this schema,
    # by the provider's own mechanism (None: free text, or the prompt convention).
    output: OutputSchema | None = None
    # An agent turn's tools and tool choice (`workers.turns`); none for a text call.
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage
    model: str
    request_id: str | None
    latency_s: float
    mode: Literal["live", "simulated"] = "live"
    stop_reason: str | None = None  # normalised: one of `STOP_REASONS` (None: unknown)
    extra: dict[str, str] = field(default_factory=dict)
    tool_calls: tuple[ToolCall, ...] = ()


@runtime_checkable
class Provider(Protocol):
    """What every provider client offers; implementations are thread-safe and reused."""

    name: str

    def complete(self, request: CompletionRequest) -> Completion:
        """Make the call; raise a `workers.providers.errors.ProviderError` subclass on failure."""
        ...
