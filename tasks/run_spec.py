"""`llm.run`: a prompt (or messages) for a model key, text back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from routing.config import RoutingConfig
from workers.contract import Call, Comparison, Message, input_error


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class RunInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_key: str = Field(min_length=1)
    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    system: str | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)

    @model_validator(mode="after")
    def _one_of(self) -> RunInput:
        if self.prompt is None and not self.messages:
            raise ValueError("give `prompt` (a string) or `messages` (a list of role/content)")
        if self.prompt is not None and self.messages:
            raise ValueError("give either `prompt` or `messages`, not both")
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("`prompt` must not be empty")
        return self


class RunSpec:
    name = "llm.run"

    def parse(self, kwargs: dict[str, Any], config: RoutingConfig) -> Call:
        try:
            data = RunInput.model_validate(kwargs)
        except ValidationError as exc:
            raise input_error(self.name, exc) from None
        if data.prompt is not None:
            messages: tuple[Message, ...] = (Message("user", data.prompt),)
        else:
            messages = tuple(Message(m.role, m.content) for m in data.messages or ())
        return Call(data.model_key, messages, data.system, data.max_tokens)

    def compare(
        self, production: dict[str, Any], candidate: dict[str, Any] | None
    ) -> Comparison | None:
        """Free text: only a judge compares two answers."""
        return None if candidate is not None else Comparison("candidate_invalid")

    def parse_output(self, text: str, call: Call, config: RoutingConfig) -> dict[str, Any]:
        return {}
