"""What a task asks of a model: parsed input in, validated output out.

A `WorkSpec` turns a task's kwargs into a `Call` (model key, system, messages,
max_tokens) and the model's text into the task's output. `llm.run` passes text through;
the typed tasks render a prompt from their pydantic input and parse JSON output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from routing.config import RoutingConfig
from routing.tokens import estimate_tokens
from workers.errors import TaskInputError
from workers.providers.base import Message


@dataclass(frozen=True, slots=True)
class Call:
    model_key: str
    messages: tuple[Message, ...]
    system: str | None
    max_tokens: int | None  # None: the model key's default

    @property
    def input_tokens(self) -> int:
        return estimate_tokens(
            messages=[{"content": m.content} for m in self.messages], system=self.system
        )


class OutputInvalid(Exception):
    """The model's text is not a valid output for this task."""


class WorkSpec(Protocol):
    def parse(self, kwargs: dict[str, Any], config: RoutingConfig) -> Call:
        """The call for these kwargs; raise `TaskInputError` naming the field."""
        ...

    def parse_output(
        self, text: str, kwargs: dict[str, Any], config: RoutingConfig
    ) -> dict[str, Any]:
        """The task's output; raise `OutputInvalid` if the text does not fit the output
        model or the input (a label that was not offered, a step naming no model key)."""
        ...


def input_error(task: str, exc: ValidationError) -> TaskInputError:
    """One message naming every bad field, e.g. `llm.run: prompt: must not be empty`."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "input"
        parts.append(f"{loc}: {err['msg']}")
    return TaskInputError(f"{task}: invalid input: " + "; ".join(parts))
