"""Claude through the official `anthropic` SDK (Messages API).

One `anthropic.Anthropic` client per instance (the registry keeps one instance per
process), so HTTP connections are pooled. The SDK's own retries are off (`max_retries=0`):
Celery owns retrying, and a long retry-after must never block a worker thread. Every
request has an explicit timeout (the settings' default, or the request's own).
"""

from __future__ import annotations

import time

import anthropic
from anthropic.types import (
    AssistantMessageParam,
    MessageParam,
    TextBlockParam,
    UserMessageParam,
)
from anthropic.types import Message as SDKMessage
from pydantic import SecretStr

from routing.pricing import Usage
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
        )

    def __repr__(self) -> str:
        return f"AnthropicProvider(base_url={self.base_url!r}, timeout={self.timeout!r})"

    def close(self) -> None:
        self.client.close()

    def complete(self, request: CompletionRequest) -> Completion:
        timeout = request.timeout if request.timeout is not None else self.timeout
        messages: list[MessageParam] = []
        for m in request.messages:
            if m.role == "user":
                messages.append(UserMessageParam(role="user", content=m.content))
            else:
                messages.append(AssistantMessageParam(role="assistant", content=m.content))
        started = time.perf_counter()
        error: ProviderError
        try:
            if request.system:
                response = self.client.messages.create(
                    model=request.model, max_tokens=request.max_tokens, messages=messages,
                    system=self._system(request.system, request.cache_system), timeout=timeout,
                )
            else:
                response = self.client.messages.create(
                    model=request.model, max_tokens=request.max_tokens, messages=messages,
                    timeout=timeout,
                )
        except anthropic.APIStatusError as exc:
            error = failures.from_status(
                self.name, exc.status_code, headers=exc.response.headers,
                error_type=exc.type, message=exc.api_message or exc.message,
                request_id=exc.request_id, secrets=self._secrets(),
            )
        except anthropic.AnthropicError as exc:
            error = failures.from_client_error(
                self.name, exc, _ERRORS, timeout=timeout, secrets=self._secrets()
            )
        else:
            return self._completion(response, time.perf_counter() - started)
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

    @staticmethod
    def _completion(response: SDKMessage, latency: float) -> Completion:
        usage = response.usage
        text = "".join(block.text for block in response.content if block.type == "text")
        return Completion(
            text=text,
            usage=Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
            ),
            model=response.model,
            request_id=response._request_id or None,
            latency_s=latency,
            mode="live",
            stop_reason=response.stop_reason,
        )
