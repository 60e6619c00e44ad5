"""Helpers for provider tests: settings that point every provider at the test server."""

from __future__ import annotations

from typing import Any

from routing.config import ModelSpec
from tests.support.llm_server import LLMServer
from workers.settings import Settings

# The catalog's models, one per provider (as in routing/default_config.yaml).
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
