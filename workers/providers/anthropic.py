"""Claude through the official `anthropic` SDK (Messages API).

One `anthropic.Anthropic` client per instance (the registry keeps one instance per
process), so HTTP connections are pooled. The SDK's own retries are off (`max_retries=0`):
Celery owns retrying, and a long retry-after must never block a worker thread. Every
request has an explicit timeout (the settings' default, or the request's own).
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
from anthropic.types import TextBlockParam
from pydantic import SecretStr

from routing.prices.pricing import Usage
from workers.contract import OUTPUT_TOOL
from workers.providers import anthropic_turns as turns
from workers.providers import failures
from workers.providers.base import Completion, CompletionRequest
from workers.providers.errors import ProviderError

_ERRORS = failures.SDKErrors(
    anthropic.APITimeoutError, anthropic.APIConnectionError, anthropic.APIError
)

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider:
    """`Provider` for `provider: anthropic` models. Thread-safe; reuse one per process."""

    name = "anthropic"

    def __init__(self, *, api_key: SecretStr, base_url: str | None = None,
                 timeout: float = 120.0) -> None:
        self._secret = api_key
        self.base_url = base_url or DEFAULT_BASE_URL
        self.timeout = timeout
        # base_url is always explicit, so the SDK does not consult ANTHROPIC_BASE_URL itself.
        self.client = anthropic.Anthropic(
            api_key=api_key.get_secret_value(),
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,
            # No OpenTelemetry span per call (and no trace headers): ~30 us of CPU a call.
            open_telemetry={"traces": {"enabled": False}, "propagation": False},
        )
        # The raw response: its JSON is read into a plain dict rather than the SDK's
        # `Message` model (~100 us of CPU a call); errors are raised as before.
        self._create = self.client.messages.with_raw_response.create

    def __repr__(self) -> str:
        return f"AnthropicProvider(base_url={self.base_url!r}, timeout={self.timeout!r})"

    def close(self) -> None:
        self.client.close()

    def complete(self, request: CompletionRequest) -> Completion:
        timeout = request.timeout if request.timeout is not None else self.timeout
        params = message_params(request)
        started = time.perf_counter()
        error: ProviderError
        try:
            response = self._create(**params, timeout=timeout)
        except anthropic.AnthropicError as exc:
            error = sdk_error(self.name, exc, timeout=timeout, secrets=self._secrets())
        else:
            try:
                body = json.loads(response.http_response.content)
                return completion_from_body(body, response.request_id,
                                            time.perf_counter() - started)
            except (ValueError, TypeError, AttributeError) as exc:  # not a Messages API body
                error = failures.transient(
                    self.name, f"invalid response: {exc}", secrets=self._secrets()
                )
        # Raised outside the `except` blocks: the SDK exception (which holds the request
        # and its headers) is neither chained nor kept as context.
        raise error

    def _secrets(self) -> tuple[str]:
        return (self._secret.get_secret_value(),)

    @staticmethod
    def _system(text: str, cache: bool) -> str | list[TextBlockParam]:
        if not cache:
            return text
        return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def sdk_error(name: str, exc: anthropic.AnthropicError, *, timeout: float,
              secrets: tuple[str, ...]) -> ProviderError:
    """The `ProviderError` of an exception the Anthropic SDK raised (a direct call's or a
    batch request's), classified by status and error type; `secrets` never in its text."""
    if isinstance(exc, anthropic.APIStatusError):
        return failures.from_status(
            name, exc.status_code, headers=exc.response.headers, error_type=exc.type,
            message=exc.api_message or exc.message, request_id=exc.request_id,
            secrets=secrets)
    return failures.from_client_error(name, exc, _ERRORS, timeout=timeout, secrets=secrets)


def message_params(request: CompletionRequest) -> dict[str, Any]:
    """The Messages API parameters of `request` (a batch request's `params`)."""
    params: dict[str, Any] = {
        "model": request.model, "max_tokens": request.max_tokens,
        "messages": turns.messages(request.messages),
    }
    if request.system:
        params["system"] = AnthropicProvider._system(request.system, request.cache_system)
    if request.tools:
        params["tools"] = turns.tools(request.tools)
        if request.tool_choice is not None:
            params["tool_choice"] = turns.tool_choice(request.tool_choice)
    params.update(structured_params(request))
    return params


def structured_params(request: CompletionRequest) -> dict[str, Any]:
    """Native structured output on the Messages API: one tool, `OUTPUT_TOOL`, whose input
    schema is the output's, forced by `tool_choice` (its input is the output); {} when the
    request asks for none."""
    if request.output is None:
        return {}
    tool = {"name": OUTPUT_TOOL, "input_schema": request.output.schema,
            "description": f"Record the {request.output.name}: call this tool exactly once, "
                           "its input is the answer."}
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": OUTPUT_TOOL}}


def completion_from_body(body: dict[str, Any], request_id: str | None,
                         latency: float) -> Completion:
    """A Messages API response body (also a batch result's `message`) as a `Completion`."""
    usage = body.get("usage") or {}
    content = body.get("content") or []
    text = "".join(block.get("text", "") for block in content if block.get("type") == "text")
    for block in content:
        if block.get("type") == "tool_use" and block.get("name") == OUTPUT_TOOL:
            # Native structured output: the forced tool's input is the answer.
            text = json.dumps(block.get("input"), ensure_ascii=False)
    return Completion(
        text=text,
        usage=Usage(
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
            cache_write_tokens=int(usage.get("cache_creation_input_tokens") or 0),
        ),
        model=str(body.get("model") or ""),
        request_id=request_id or None,
        latency_s=latency,
        mode="live",
        stop_reason=body.get("stop_reason"),
        tool_calls=tuple(c for c in turns.tool_calls(content) if c.name != OUTPUT_TOOL),
    )
