"""Helpers for provider tests: settings that point every provider at the test server."""

from __future__ import annotations

from typing import Any

import pytest

from routing.config.models import ModelSpec
from tests.support.llm_server import LLMServer
from workers.providers.base import CompletionRequest, Provider
from workers.providers.errors import ProviderError, RateLimitedError
from workers.settings import Settings

# The catalog's models, one per provider (as in routing/config/default_config.yaml).
MODELS = {
    "anthropic": "claude-haiku-4-5",
    "openai": "gpt-4o",
    "moonshot": "kimi-for-coding",
    "google": "gemini-2.5-pro",
}


def live_settings(server: LLMServer, **overrides: Any) -> Settings:
    """Live-mode settings from the server's environment (base URLs and dummy keys)."""
    values: dict[str, Any] = {
        **server.env(),
        "LLM_ROUTER_PROVIDER_MODE": "live",
        "LLM_ROUTER_REQUEST_TIMEOUT": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


def spec(provider: str, model: str | None = None) -> ModelSpec:
    return ModelSpec(
        provider=provider,
        provider_model=model or MODELS[provider],
        tier="haiku",
        context_window=200_000,
    )


def assert_scripted_failure(
    provider: Provider, server: LLMServer, request: CompletionRequest,
    script: dict[str, object], kind: type[ProviderError], retry_after: float | None,
) -> None:
    """Script one failure on the server; the call raises exactly `kind`, once, unchained."""
    options = dict(script)
    status = options.pop("status")
    assert isinstance(status, int)
    server.fail(status, **options)  # type: ignore[arg-type]
    with pytest.raises(kind) as info:
        provider.complete(request)
    err = info.value
    assert type(err) is kind and (err.provider, err.status) == (provider.name, status)
    assert err.request_id == server.requests[0].request_id
    assert err.__cause__ is None and err.__context__ is None
    if isinstance(err, RateLimitedError):
        assert err.retry_after == retry_after
    assert len(server.requests) == 1  # the SDK did not retry
