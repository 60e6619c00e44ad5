"""One provider client per provider per process, created on first use and then reused.

`Providers(settings).for_model(spec)` gives the client for a catalog model: the SDK
client (and its HTTP connection pool) is built once per provider under a lock and shared
by every thread. In simulated mode every model gets the one `SimulatedProvider`; a live
model whose provider has no API key raises `MissingKeyError` naming the variable to set.
Each process builds its own (`workers.execution.runtime.Runtime.providers`, rebuilt after a
fork), so no connection is shared across a fork.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pydantic import SecretStr

from routing.config.models import ModelSpec
from workers.providers.anthropic import AnthropicProvider
from workers.providers.anthropic_batch import AnthropicBatches
from workers.providers.base import Provider
from workers.providers.batch import BatchAPI
from workers.providers.errors import MissingKeyError, PermanentError
from workers.providers.openai_batch import OpenAIBatches
from workers.providers.openai_compat import OpenAICompatProvider
from workers.providers.simulated import SimulatedProvider
from workers.providers.simulated_batch import SimulatedBatches
from workers.settings import Settings

# Provider name -> the environment variable of its API key.
KEY_VARIABLES = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "moonshot": "MOONSHOT_API_KEY",
    "google": "GEMINI_API_KEY",
}
# Provider name -> the `Settings` field holding its key.
_KEY_FIELDS = {
    "anthropic": "anthropic_api_key",
    "openai": "openai_api_key",
    "moonshot": "moonshot_api_key",
    "google": "gemini_api_key",
}


class Providers:
    """The provider clients of one process, built lazily from `Settings`. Thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mode = settings.provider_mode
        self._lock = threading.Lock()
        self._clients: dict[str, Provider] = {}
        self._batches: dict[str, BatchAPI] = {}

    def __repr__(self) -> str:
        return f"Providers(mode={self.mode!r}, created={sorted(self._clients)!r})"

    def for_model(self, spec: ModelSpec) -> Provider:
        """The (shared) client that serves `spec`; `MissingKeyError` if it has no key."""
        name = "simulated" if self.mode == "simulated" else str(spec.provider)
        return self.get(name)

    def batches(self, provider: str) -> BatchAPI:
        """The batch API of `provider` (sharing that provider's client); `MissingKeyError`
        without its key, `PermanentError` if it has no batch API."""
        name = "simulated" if self.mode == "simulated" else provider
        api = self._batches.get(name)
        if api is None:
            api = self._build_batches(name)
            with self._lock:
                api = self._batches.setdefault(name, api)
        return api

    def _build_batches(self, name: str) -> BatchAPI:
        s = self.settings
        if name == "simulated":  # no per-call latency: the batch is over when submitted
            return SimulatedBatches(SimulatedProvider(
                error_rates=s.simulated_error_rates,
                format_error_rate=s.simulated_format_error_rate))
        client = self.get(name)
        if isinstance(client, AnthropicProvider):
            return AnthropicBatches(client, timeout=s.request_timeout)
        if isinstance(client, OpenAICompatProvider) and name == "openai":
            return OpenAIBatches(client, timeout=s.request_timeout)
        raise PermanentError(f"provider '{name}' has no batch API llm-router submits to",
                             provider=name)

    def missing_keys(self, specs: dict[str, ModelSpec]) -> dict[str, str]:
        """Model -> the variable to set, for each model (name -> spec) whose provider has
        no API key. Nothing is missing in simulated mode."""
        if self.mode == "simulated":
            return {}
        missing: dict[str, str] = {}
        for name, spec in specs.items():
            try:
                self._key(str(spec.provider))
            except MissingKeyError as exc:
                missing[name] = exc.variable
        return missing

    def get(self, name: str) -> Provider:
        """The client of provider `name` (anthropic, openai, moonshot, google, simulated)."""
        client = self._clients.get(name)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._build(name)
                self._clients[name] = client
            return client

    def close(self) -> None:
        """Close every client (their connection pools); later calls build new ones."""
        with self._lock:
            clients, self._clients = self._clients, {}
        for client in clients.values():
            close: Callable[[], None] | None = getattr(client, "close", None)
            if close is not None:
                close()

    def _build(self, name: str) -> Provider:
        s = self.settings
        if name == "simulated":
            return SimulatedProvider(latency=s.simulated_latency,
                                     error_rates=s.simulated_error_rates,
                                     format_error_rate=s.simulated_format_error_rate)
        if name not in KEY_VARIABLES:
            raise ValueError(f"unknown provider {name!r} (known: {', '.join(KEY_VARIABLES)})")
        key = self._key(name)
        if name == "anthropic":
            return AnthropicProvider(
                api_key=key, base_url=s.anthropic_base_url, timeout=s.request_timeout
            )
        base_url = {
            "openai": s.openai_base_url,
            "moonshot": s.moonshot_base_url,
            "google": s.gemini_base_url,
        }[name]
        return OpenAICompatProvider(
            name, api_key=key, base_url=base_url, timeout=s.request_timeout
        )

    def _key(self, name: str) -> SecretStr:
        key: SecretStr | None = getattr(self.settings, _KEY_FIELDS[name])
        if key is None or not key.get_secret_value().strip():
            raise MissingKeyError(name, KEY_VARIABLES[name])
        return key
