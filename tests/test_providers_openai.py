"""OpenAICompatProvider (OpenAI, Moonshot/Kimi, Gemini) through the real `openai` SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai.types.completion_usage import CompletionUsage, PromptTokensDetails
from pydantic import SecretStr

from routing.prices.pricing import Usage
from tests.support import llm_wire as wire
from tests.support.llm_server import REDACTED, LLMServer
from tests.support.providers import MODELS, assert_scripted_failure
from workers.contract import Message
from workers.providers.base import CompletionRequest
from workers.providers.errors import (
    OverloadedError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from workers.providers.openai_compat import OpenAICompatProvider, usage_from_openai

KEY = "sk-compat-unit-2f8e6d4c1a9b7e50"
PATHS = {
    "openai": "/v1/chat/completions",
    "moonshot": "/moonshot/v1/chat/completions",
    "google": "/gemini/v1beta/openai/chat/completions",
}
LIMIT_FIELD = {"openai": "max_completion_tokens", "moonshot": "max_tokens",
               "google": "max_tokens"}


@pytest.fixture(params=["openai", "moonshot", "google"])
def provider(request: pytest.FixtureRequest,
             llm_server: LLMServer) -> Iterator[OpenAICompatProvider]:
    name = request.param
    p = OpenAICompatProvider(name, api_key=SecretStr(KEY), base_url=llm_server.base_urls[name],
                             timeout=5.0)
    yield p
    p.close()


def ask(p: OpenAICompatProvider, prompt: str = "Hello there", *, system: str | None = "Be brief.",
        max_tokens: int = 64, timeout: float | None = None) -> CompletionRequest:
    return CompletionRequest(model=MODELS[p.name], messages=(Message("user", prompt),),
                             max_tokens=max_tokens, system=system, timeout=timeout)


def test_request_shape_and_usage(provider: OpenAICompatProvider, llm_server: LLMServer) -> None:
    llm_server.set_reply("Sure thing.")
    result = provider.complete(ask(provider))
    (rec,) = llm_server.requests
    assert rec.path == PATHS[provider.name] and rec.api == "openai"
    assert rec.model == MODELS[provider.name] and rec.max_tokens == 64
    assert rec.body[LIMIT_FIELD[provider.name]] == 64
    assert rec.body["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"},
    ]
    assert rec.system == "Be brief." and rec.message_count == 1
    assert rec.headers["authorization"] == REDACTED
    assert result.text == "Sure thing." and result.stop_reason == "end_turn"
    assert result.usage == Usage(
        input_tokens=wire.tokens("Be brief.") + wire.tokens("Hello there") + 4,
        output_tokens=wire.tokens("Sure thing."),
    )
    assert result.request_id == rec.request_id and result.mode == "live"


def test_cached_prompt_is_not_billed_twice(provider: OpenAICompatProvider,
                                           llm_server: LLMServer) -> None:
    system = "Long stable instructions. " * 100
    first = provider.complete(ask(provider, system=system))
    second = provider.complete(ask(provider, "Next one", system=system))
    s = wire.tokens(system)
    assert first.usage.cache_read_tokens == 0
    assert first.usage.input_tokens == s + wire.tokens("Hello there") + 4
    assert llm_server.requests[1].usage is not None
    assert llm_server.requests[1].usage["prompt_tokens_details"]["cached_tokens"] == s
    assert second.usage.cache_read_tokens == s
    assert second.usage.input_tokens == wire.tokens("Next one") + 4


ERROR_CASES = [
    pytest.param({"status": 429, "retry_after": 3}, RateLimitedError, 3.0, id="429-seconds"),
    pytest.param({"status": 429, "retry_after": 9, "retry_after_ms": 250}, RateLimitedError,
                 0.25, id="429-ms"),
    pytest.param({"status": 529}, OverloadedError, None, id="529"),
    pytest.param({"status": 500}, TransientError, None, id="500"),
    pytest.param({"status": 400}, PermanentError, None, id="400"),
    pytest.param({"status": 401}, PermanentError, None, id="401"),
    pytest.param({"status": 404}, PermanentError, None, id="404"),
]


@pytest.mark.parametrize(("script", "kind", "retry_after"), ERROR_CASES)
def test_error_taxonomy(provider: OpenAICompatProvider, llm_server: LLMServer,
                        script: dict[str, object], kind: type[ProviderError],
                        retry_after: float | None) -> None:
    assert_scripted_failure(provider, llm_server, ask(provider), script, kind, retry_after)


def test_context_length_is_permanent(provider: OpenAICompatProvider,
                                     llm_server: LLMServer) -> None:
    llm_server.fail(400, error_type="context_length_exceeded",
                    message="This model's maximum context length is 128000 tokens.")
    with pytest.raises(PermanentError, match="context too long"):
        provider.complete(ask(provider))


def test_timeout_honored(provider: OpenAICompatProvider, llm_server: LLMServer) -> None:
    llm_server.stall(10)  # an answer after 10 s: no error unless the call timed out
    with pytest.raises(TransientError, match="timed out"):
        provider.complete(ask(provider, timeout=0.3))
    assert len(llm_server.requests) == 1


def test_echoed_key_is_redacted(provider: OpenAICompatProvider, llm_server: LLMServer) -> None:
    llm_server.fail(401, message=f"Incorrect API key provided: {KEY[:10]}****{KEY[-4:]} ({KEY})")
    with pytest.raises(PermanentError) as info:
        provider.complete(ask(provider))
    assert KEY not in str(info.value) and KEY[:10] not in str(info.value)


def test_usage_mapping_edge_cases() -> None:
    assert usage_from_openai(None) == Usage()
    usage = CompletionUsage(
        prompt_tokens=1000, completion_tokens=20, total_tokens=1020,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=600, cache_write_tokens=300),
    )
    assert usage_from_openai(usage) == Usage(input_tokens=100, output_tokens=20,
                                             cache_read_tokens=600, cache_write_tokens=300)
    odd = CompletionUsage(prompt_tokens=10, completion_tokens=1, total_tokens=11,
                          prompt_tokens_details=PromptTokensDetails(cached_tokens=50))
    assert usage_from_openai(odd) == Usage(input_tokens=0, output_tokens=1, cache_read_tokens=10)


def test_unknown_provider_name_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        OpenAICompatProvider("mistral", api_key=SecretStr(KEY))


def test_openai_org_headers_only_for_openai(monkeypatch: pytest.MonkeyPatch,
                                            llm_server: LLMServer) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")
    for name in ("openai", "moonshot"):
        p = OpenAICompatProvider(name, api_key=SecretStr(KEY),
                                 base_url=llm_server.base_urls[name])
        try:
            p.complete(ask(p))
        finally:
            p.close()
    sent = [r.headers.get("openai-organization") for r in llm_server.requests]
    assert sent == ["org-test", None]
