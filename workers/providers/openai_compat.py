"""OpenAI-compatible Chat Completions through the official `openai` SDK.

Serves three providers of the catalog, each with its own client and base URL:
`openai` (GPT-4o), `moonshot` (Kimi, https://api.moonshot.ai/v1) and `google` (Gemini's
OpenAI-compatible endpoint). These providers cache prompt prefixes automatically and
report the cached part in `usage.prompt_tokens_details.cached_tokens`, which is *included*
in `prompt_tokens`: it is moved to `cache_read_tokens` so it is not billed twice
(likewise `cache_write_tokens` where a provider reports it).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import openai
from openai.lib._pydantic import _ensure_strict_json_schema
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.completion_usage import CompletionUsage
from pydantic import SecretStr

from routing.prices.pricing import Usage
from workers.providers import failures
from workers.providers import openai_turns as turns
from workers.providers.base import Completion, CompletionRequest
from workers.providers.errors import ProviderError

_ERRORS = failures.SDKErrors(openai.APITimeoutError, openai.APIConnectionError, openai.APIError)

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "moonshot": "https://api.moonshot.ai/v1",
    "google": "https://generativelanguage.googleapis.com/v1beta/openai/",
}
# OpenAI's own API names the output limit `max_completion_tokens` (newer models refuse
# `max_tokens`); Moonshot and Gemini's compatibility layer take `max_tokens`.
_USES_MAX_COMPLETION_TOKENS = frozenset({"openai"})


def usage_from_openai(usage: CompletionUsage | None) -> Usage:
    """Normalized usage: `input_tokens` excludes the cached (and cache-written) prompt part."""
    if usage is None:
        return Usage()
    details = usage.prompt_tokens_details
    prompt = max(usage.prompt_tokens, 0)
    cached = min(max((details.cached_tokens or 0) if details else 0, 0), prompt)
    written = min(max((details.cache_write_tokens or 0) if details else 0, 0), prompt - cached)
    return Usage(
        input_tokens=prompt - cached - written,
        output_tokens=max(usage.completion_tokens, 0),
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )


class OpenAICompatProvider:
    """`Provider` for `openai`, `moonshot` and `google` models. Thread-safe; reuse it."""

    def __init__(self, name: str, *, api_key: SecretStr, base_url: str | None = None,
                 timeout: float = 120.0) -> None:
        if name not in DEFAULT_BASE_URLS:
            raise ValueError(f"unknown OpenAI-compatible provider {name!r}")
        self.name = name
        self._secret = api_key
        self.base_url = base_url or DEFAULT_BASE_URLS[name]
        self.timeout = timeout
        self.client = openai.OpenAI(
            api_key=api_key.get_secret_value(),
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,
        )
        if name != "openai":
            # The SDK fills these from OPENAI_ORG_ID / OPENAI_PROJECT_ID; they are OpenAI's
            # own headers and must not go to Moonshot or Google.
            self.client.organization = None
            self.client.project = None

    def __repr__(self) -> str:
        return (f"OpenAICompatProvider(name={self.name!r}, base_url={self.base_url!r}, "
                f"timeout={self.timeout!r})")

    def close(self) -> None:
        self.client.close()

    def complete(self, request: CompletionRequest) -> Completion:
        timeout = request.timeout if request.timeout is not None else self.timeout
        messages = chat_messages(request)
        started = time.perf_counter()
        error: ProviderError
        try:
            response = self.client.chat.completions.create(
                **chat_params(self.name, request, messages), timeout=timeout)
        except openai.OpenAIError as exc:
            error = sdk_error(self.name, exc, timeout=timeout, secrets=self._secrets())
        else:
            return completion_from_chat(response, time.perf_counter() - started)
        # Raised outside the `except` blocks so the SDK exception (with the request and its
        # Authorization header) is neither chained nor kept as context.
        raise error

    def _secrets(self) -> tuple[str]:
        return (self._secret.get_secret_value(),)



def sdk_error(name: str, exc: openai.OpenAIError, *, timeout: float,
              secrets: tuple[str, ...]) -> ProviderError:
    """The `ProviderError` of an exception the OpenAI SDK raised (a direct call's or a
    batch request's), classified by status and error type; `secrets` never in its text."""
    if isinstance(exc, openai.APIStatusError):
        return failures.from_status(
            name, exc.status_code, headers=exc.response.headers,
            error_type=exc.type or exc.code, message=_api_message(exc),
            request_id=exc.request_id, secrets=secrets)
    return failures.from_client_error(name, exc, _ERRORS, timeout=timeout, secrets=secrets)


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


def chat_messages(request: CompletionRequest) -> list[ChatCompletionMessageParam]:
    """The Chat Completions messages of `request` (its system prompt first)."""
    messages: list[Any] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend(turns.messages(request.messages))
    return messages


def chat_params(provider: str, request: CompletionRequest,
                messages: list[ChatCompletionMessageParam] | None = None) -> dict[str, Any]:
    """The Chat Completions body of `request` for `provider` (a batch line's `body`)."""
    limit = "max_completion_tokens" if provider in _USES_MAX_COMPLETION_TOKENS else "max_tokens"
    params: dict[str, Any] = {
        "model": request.model,
        "messages": chat_messages(request) if messages is None else messages,
        limit: request.max_tokens, **structured_params(request)}
    if request.tools:
        params["tools"] = turns.tools(request.tools)
        if request.tool_choice is not None:
            params["tool_choice"] = turns.tool_choice(request.tool_choice)
    return params


def structured_params(request: CompletionRequest) -> dict[str, Any]:
    """Native structured output on Chat Completions: `response_format` with the output's
    JSON schema made strict (every object closed, every property required, as strict mode
    demands); {} when the request asks for none."""
    if request.output is None:
        return {}
    return {"response_format": {"type": "json_schema", "json_schema": {
        "name": request.output.name, "schema": strict_schema(request.output.schema),
        "strict": True}}}


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` as OpenAI's strict mode takes it (the SDK's own conversion, on a copy):
    `additionalProperties: false` and every property required, on every object."""
    copied = copy.deepcopy(schema)
    return _ensure_strict_json_schema(copied, path=(), root=copied)


def completion_from_chat(response: ChatCompletion, latency: float) -> Completion:
    """A Chat Completions response (also a batch output line's body) as a `Completion`."""
    choice = response.choices[0] if response.choices else None
    return Completion(
        text=(choice.message.content or "") if choice else "",
        usage=usage_from_openai(response.usage),
        model=response.model,
        request_id=getattr(response, "_request_id", None) or response.id or None,
        latency_s=latency,
        mode="live",
        stop_reason=turns.stop_reason(choice.finish_reason) if choice else None,
        tool_calls=turns.tool_calls(choice.message.tool_calls) if choice else (),
    )
