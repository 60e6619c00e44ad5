"""Typed work: a pydantic input rendered into a prompt, JSON output parsed and checked.

The call carries the output's JSON Schema (`OutputSchema`, narrowed for the input). On a
model that supports `structured_output` the provider's own mechanism returns it (an
Anthropic forced tool, OpenAI-compatible `response_format` with a strict schema); on the
others the system prompt ends with the schema in a `<json-schema>` block (the prompt
convention of `workers.contract`, which the simulated provider reads, so typed tasks also
run offline) and the model is asked for one JSON object and nothing else. Either way a
reply that does not parse, does not fit the output model, or does not answer the input
(see `Out.check`) is invalid, which makes the task escalate to the model key's
escalation target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from routing.config.models import RoutingConfig
from tasks.compare import compare
from tasks.schemas import In, Out
from workers.contract import (
    TYPED_PREFIX,
    Call,
    Comparison,
    Message,
    OutputSchema,
    input_error,
)
from workers.errors import OutputInvalidError


@dataclass(frozen=True)
class TypedSpec:
    model_key: str
    input_model: type[In]
    output_model: type[Out]
    instruction: str

    @property
    def name(self) -> str:
        """The task name, `tasks.<model key>` (what `send_facts` routes by)."""
        return TYPED_PREFIX + self.model_key

    def output(self, given: In, config: RoutingConfig) -> OutputSchema:
        schema = self.output_model.schema_for(given, frozenset(config.model_keys))
        return OutputSchema(self.output_model.__name__, schema)

    def _input(self, kwargs: dict[str, Any]) -> In:
        try:
            return self.input_model.model_validate(kwargs)
        except ValidationError as exc:
            raise input_error(self.name, exc, self.input_model.model_fields) from None

    def parse(self, kwargs: dict[str, Any], config: RoutingConfig) -> Call:
        given = self._input(kwargs)
        prompt = json.dumps(given.model_dump(mode="json", exclude=set(given.not_prompted)),
                            indent=1, ensure_ascii=False)
        return Call(self.model_key, (Message("user", prompt),), self.instruction, None, given,
                    self.output(given, config))

    def compare(
        self, production: dict[str, Any], candidate: dict[str, Any] | None
    ) -> Comparison | None:
        """Field by field on the output's decision fields (None when it has none: free
        text, which a judge compares)."""
        if not self.output_model.compared:
            return None
        mine = self.output_model.model_validate(production)
        theirs = None if candidate is None else self.output_model.model_validate(candidate)
        return compare(mine, theirs)

    def parse_output(self, text: str, call: Call, config: RoutingConfig) -> dict[str, Any]:
        try:
            output = self.output_model.model_validate_json(extract_json(text))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "output"
            raise OutputInvalidError(f"{where}: {first['msg']}") from None
        problem = output.check(call.given, frozenset(config.model_keys))
        if problem:
            raise OutputInvalidError(problem)
        return output.model_dump(mode="json")


def extract_json(text: str) -> str:
    """The JSON object in a reply, tolerating a code fence or a sentence around it."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise OutputInvalidError("the reply holds no JSON object")
    return text[start : end + 1]
