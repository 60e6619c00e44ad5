"""The provider registry: keys, reuse, modes; and no API key in any log, error or result."""

from __future__ import annotations

import logging
import pickle
import threading
import traceback
from collections.abc import Iterator

import pytest

from tests.support.llm_server import TEST_KEYS, LLMServer
from tests.support.providers import MODELS, live_settings, spec
from workers.contract import Message
from workers.providers.anthropic import AnthropicProvider
from workers.providers.base import CompletionRequest, Provider
from workers.providers.errors import MissingKeyError, ProviderError
from workers.providers.openai_compat import OpenAICompatProvider
from workers.providers.registry import Providers
from workers.providers.simulated import SimulatedProvider

VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY",
             "moonshot": "MOONSHOT_API_KEY", "google": "GEMINI_API_KEY"}


@pytest.fixture(autouse=True)
def _no_keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*VARIABLES.values(), "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def registry(llm_server: LLMServer) -> Iterator[Providers]:
    providers = Providers(live_settings(llm_server))
    yield providers
    providers.close()


def ask(model: str, **kw: object) -> CompletionRequest:
    return CompletionRequest(model=model, messages=(Message("user", "ping"),), max_tokens=32,
                             system="sys", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", sorted(VARIABLES))
def test_missing_key_names_the_variable(provider: str, llm_server: LLMServer) -> None:
    registry = Providers(live_settings(llm_server, **{VARIABLES[provider]: None}))
    with pytest.raises(MissingKeyError) as info:
        registry.for_model(spec(provider))
    assert info.value.variable == VARIABLES[provider]
    assert VARIABLES[provider] in str(info.value) and info.value.provider == provider
    back = pickle.loads(pickle.dumps(info.value))
    assert isinstance(back, MissingKeyError) and back.variable == VARIABLES[provider]


def test_each_provider_gets_its_client(registry: Providers) -> None:
    assert isinstance(registry.for_model(spec("anthropic")), AnthropicProvider)
    for name in ("openai", "moonshot", "google"):
        client = registry.for_model(spec(name))
        assert isinstance(client, OpenAICompatProvider) and client.name == name
        assert isinstance(client, Provider)


def test_one_client_per_provider_reused(registry: Providers, llm_server: LLMServer) -> None:
    first = registry.for_model(spec("anthropic"))
    assert registry.for_model(spec("anthropic", "claude-opus-4-6")) is first
    assert isinstance(first, AnthropicProvider)
    sdk_client = first.client
    for _ in range(3):
        registry.for_model(spec("anthropic")).complete(ask(MODELS["anthropic"]))
    assert first.client is sdk_client and len(llm_server.requests) == 3


def test_concurrent_first_use_builds_one_client(registry: Providers) -> None:
    seen: list[Provider] = []
    barrier = threading.Barrier(16)

    def grab() -> None:
        barrier.wait()
        seen.append(registry.for_model(spec("openai")))

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 16 and len({id(p) for p in seen}) == 1


def test_simulated_mode_serves_every_model_without_keys(llm_server: LLMServer) -> None:
    settings = live_settings(llm_server, LLM_ROUTER_PROVIDER_MODE="simulated",
                             **dict.fromkeys(VARIABLES.values()))
    registry = Providers(settings)
    clients = {registry.for_model(spec(name)) for name in VARIABLES}
    (client,) = clients
    assert isinstance(client, SimulatedProvider)
    assert client.complete(ask("gpt-4o")).mode == "simulated"
    assert llm_server.requests == []


def test_reprs_show_no_key(registry: Providers) -> None:
    clients = [registry.for_model(spec(name)) for name in VARIABLES]
    text = repr(registry) + repr(clients) + repr(registry.settings)
    for key in TEST_KEYS.values():
        assert key not in text


def test_no_key_in_logs_errors_or_results(registry: Providers, llm_server: LLMServer,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("anthropic", "openai", "httpx", "httpx2", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []
    for name in VARIABLES:
        client = registry.for_model(spec(name))
        texts.append(repr(client.complete(ask(MODELS[name], cache_system=True))))
        llm_server.fail(401, message="invalid x-api-key")
        llm_server.rate_limit(retry_after=2)
        llm_server.server_error()
        llm_server.stall(5)
        for timeout in (None, None, None, 0.2):
            with pytest.raises(ProviderError) as info:
                client.complete(ask(MODELS[name], timeout=timeout))
            err = info.value
            logging.getLogger("test").exception("provider failed", exc_info=err)
            texts += [str(err), repr(err), repr(err.__dict__), *traceback.format_exception(err)]
            texts.append(pickle.dumps(err).decode("latin-1"))
        llm_server.release_stalls()
    texts += [caplog.text, *(r.getMessage() for r in caplog.records)]
    texts += [repr(r.headers) for r in llm_server.requests]
    assert any("HTTP Request" in r.getMessage() or "Sending HTTP" in r.getMessage()
               for r in caplog.records), "DEBUG logs of the SDKs were not captured"
    blob = "\n".join(texts)
    for key in TEST_KEYS.values():
        assert key not in blob
