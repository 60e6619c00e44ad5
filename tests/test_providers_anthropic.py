"""AnthropicProvider through the real `anthropic` SDK against the test server."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from tests.support import llm_wire as wire
from tests.support.llm_server import REDACTED, LLMServer
from tests.support.providers import assert_scripted_failure
from workers.contract import Message
from workers.providers.anthropic import AnthropicProvider
from workers.providers.base import CompletionRequest
from workers.providers.errors import (
    OverloadedError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)

KEY = "sk-ant-unit-9b1c7e2d4f6a8c30"
MODEL = "claude-haiku-4-5"


@pytest.fixture
def provider(llm_server: LLMServer) -> Iterator[AnthropicProvider]:
    p = AnthropicProvider(api_key=SecretStr(KEY), base_url=llm_server.url, timeout=5.0)
    yield p
    p.close()


def ask(prompt: str = "Hello there", *, system: str | None = "Be brief.", max_tokens: int = 64,
        cache: bool = False, timeout: float | None = None) -> CompletionRequest:
    return CompletionRequest(model=MODEL, messages=(Message("user", prompt),),
                             max_tokens=max_tokens, system=system, cache_system=cache,
                             timeout=timeout)


def test_request_shape_and_usage(provider: AnthropicProvider, llm_server: LLMServer) -> None:
    llm_server.set_reply("Hi! How can I help?")
    result = provider.complete(ask())
    (rec,) = llm_server.requests
    assert rec.path == "/v1/messages" and rec.api == "anthropic"
    assert (rec.model, rec.max_tokens, rec.system) == (MODEL, 64, "Be brief.")
    assert rec.body["system"] == "Be brief." and not rec.cache_control
    assert rec.message_count == 1 and rec.body["messages"][0]["role"] == "user"
    assert rec.headers["authorization"] == REDACTED and "anthropic-version" in rec.headers
    assert result.text == "Hi! How can I help?" and result.stop_reason == "end_turn"
    prompt_tokens = wire.tokens("Be brief.") + wire.tokens("Hello there") + 4
    assert result.usage.input_tokens == prompt_tokens
    assert result.usage.output_tokens == wire.tokens("Hi! How can I help?")
    assert (result.usage.cache_read_tokens, result.usage.cache_write_tokens) == (0, 0)
    assert result.request_id == rec.request_id and result.mode == "live"
    assert result.model == MODEL and result.latency_s > 0


def test_without_system_no_system_field(provider: AnthropicProvider,
                                        llm_server: LLMServer) -> None:
    provider.complete(ask(system=None))
    (rec,) = llm_server.requests
    assert "system" not in rec.body and rec.system is None


def test_prompt_cache_write_then_read(provider: AnthropicProvider, llm_server: LLMServer) -> None:
    system = "You are a careful reviewer. " * 200
    first = provider.complete(ask(system=system, cache=True))
    second = provider.complete(ask("Another question", system=system, cache=True))
    rec = llm_server.requests[0]
    assert rec.body["system"] == [
        {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
    ]
    s = wire.tokens(system)
    assert first.usage.cache_write_tokens == s and first.usage.cache_read_tokens == 0
    assert first.usage.input_tokens == wire.tokens("Hello there") + 4
    assert second.usage.cache_read_tokens == s and second.usage.cache_write_tokens == 0
    assert second.usage.input_tokens == wire.tokens("Another question") + 4


def test_reply_cut_at_max_tokens(provider: AnthropicProvider, llm_server: LLMServer) -> None:
    llm_server.set_reply("x" * 400)
    result = provider.complete(ask(max_tokens=5))
    assert result.stop_reason == "max_tokens" and result.usage.output_tokens == 5


def _http_date(seconds_ahead: int) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


ERROR_CASES = [
    pytest.param({"status": 429, "retry_after": 7}, RateLimitedError, 7.0, id="429-seconds"),
    pytest.param({"status": 429, "retry_after": 9, "retry_after_ms": 1500}, RateLimitedError,
                 1.5, id="429-ms-preferred"),
    pytest.param({"status": 429, "retry_after": None}, RateLimitedError, None, id="429-bare"),
    pytest.param({"status": 529}, OverloadedError, None, id="529"),
    pytest.param({"status": 500, "error_type": "overloaded_error"}, OverloadedError, None,
                 id="overloaded-type"),
    pytest.param({"status": 500}, TransientError, None, id="500"),
    pytest.param({"status": 503}, TransientError, None, id="503"),
    pytest.param({"status": 400}, PermanentError, None, id="400"),
    pytest.param({"status": 401}, PermanentError, None, id="401"),
    pytest.param({"status": 403}, PermanentError, None, id="403"),
    pytest.param({"status": 404}, PermanentError, None, id="404"),
    pytest.param({"status": 413}, PermanentError, None, id="413"),
    pytest.param({"status": 422}, PermanentError, None, id="422"),
]


@pytest.mark.parametrize(("script", "kind", "retry_after"), ERROR_CASES)
def test_error_taxonomy(provider: AnthropicProvider, llm_server: LLMServer,
                        script: dict[str, object], kind: type[ProviderError],
                        retry_after: float | None) -> None:
    assert_scripted_failure(provider, llm_server, ask(), script, kind, retry_after)


def test_retry_after_http_date(provider: AnthropicProvider, llm_server: LLMServer) -> None:
    llm_server.rate_limit(retry_after=_http_date(30))
    with pytest.raises(RateLimitedError) as info:
        provider.complete(ask())
    assert info.value.retry_after is not None and 25 <= info.value.retry_after <= 31


def test_context_too_long_is_permanent(provider: AnthropicProvider,
                                       llm_server: LLMServer) -> None:
    llm_server.bad_request(message="prompt is too long: 250000 tokens > 200000 maximum")
    with pytest.raises(PermanentError, match="context too long"):
        provider.complete(ask())


def test_request_timeout_honored(provider: AnthropicProvider, llm_server: LLMServer) -> None:
    # the answer comes after 10 s: a call that did not time out would get it, no error
    llm_server.stall(10)
    with pytest.raises(TransientError, match="timed out") as info:
        provider.complete(ask(timeout=0.3))
    assert info.value.__context__ is None
    assert len(llm_server.requests) == 1


def test_settings_timeout_is_the_default(llm_server: LLMServer) -> None:
    p = AnthropicProvider(api_key=SecretStr(KEY), base_url=llm_server.url, timeout=0.3)
    llm_server.stall(10)  # an answer after 10 s: no error unless the call timed out
    try:
        with pytest.raises(TransientError, match="timed out"):
            p.complete(ask())
    finally:
        p.close()


def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = AnthropicProvider(api_key=SecretStr(KEY), base_url=f"http://127.0.0.1:{port}",
                          timeout=2.0)
    try:
        with pytest.raises(TransientError, match="connection error"):
            p.complete(ask())
    finally:
        p.close()


def test_client_reused_across_calls(provider: AnthropicProvider, llm_server: LLMServer) -> None:
    client = provider.client
    for _ in range(3):
        provider.complete(ask())
    assert provider.client is client and len(llm_server.requests) == 3
    assert KEY not in repr(provider)
