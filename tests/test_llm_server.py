"""The test LLM server itself: concurrency, scripting, records, token formula."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from tests.support import llm_wire as wire
from tests.support.llm_server import REDACTED, TEST_KEYS, LLMServer


def post(server: LLMServer, path: str, body: dict[str, Any], *, key: str | None = "k"
         ) -> tuple[int, dict[str, str], dict[str, Any]]:
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    headers = {"content-type": "application/json"}
    if key:
        headers["x-api-key"] = key
    try:
        conn.request("POST", path, json.dumps(body), headers)
        resp = conn.getresponse()
        payload = json.loads(resp.read() or b"{}")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()


def anthropic_body(model: str = "claude-haiku-4-5", text: str = "hi") -> dict[str, Any]:
    return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}]}


def test_many_concurrent_requests(llm_server: LLMServer) -> None:
    # every answer held back until all 48 requests are in: served in parallel, not one
    # after another (counted, not timed)
    llm_server.stall(60, times=48)
    with ThreadPoolExecutor(max_workers=48) as pool:
        answers = [pool.submit(post, llm_server, "/v1/messages", anthropic_body(text=str(i)))
                   for i in range(48)]
        llm_server.wait_for_requests(48, timeout=30)
        assert not any(a.done() for a in answers)
        llm_server.release_stalls()
        statuses = [a.result(timeout=30)[0] for a in answers]
    assert statuses == [200] * 48 and len(llm_server.requests) == 48


def test_records_and_formula(llm_server: LLMServer) -> None:
    body = {**anthropic_body(text="abcdefghi"),
            "system": [{"type": "text", "text": "s" * 10, "cache_control": {"type": "ephemeral"}}]}
    status, headers, payload = post(llm_server, "/v1/messages", body, key="secret-value")
    (rec,) = llm_server.requests
    assert status == 200 and headers["request-id"] == rec.request_id
    assert rec.headers["x-api-key"] == REDACTED and "secret-value" not in repr(rec)
    assert rec.cache_control and rec.system == "s" * 10 and rec.message_count == 1
    # S = ceil(10/4) = 3, message = ceil(9/4) + 4 = 7: first request writes the cache.
    assert payload["usage"] == rec.usage == {
        "input_tokens": 7, "output_tokens": wire.tokens(payload["content"][0]["text"]),
        "cache_creation_input_tokens": 3, "cache_read_input_tokens": 0,
    }


def test_rules_in_order_and_per_model(llm_server: LLMServer) -> None:
    llm_server.fail(500, model="gpt-4o")
    llm_server.rate_limit(times=2, retry_after=2, retry_after_ms=1500)
    chat = {"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    first = post(llm_server, "/v1/messages", anthropic_body())
    assert first[0] == 429 and first[1]["retry-after"] == "2"
    assert first[1]["retry-after-ms"] == "1500"
    assert first[2]["error"]["type"] == "rate_limit_error"
    assert post(llm_server, "/x/v1/chat/completions", chat)[0] == 500
    assert post(llm_server, "/x/v1/chat/completions", chat)[0] == 429
    assert post(llm_server, "/x/v1/chat/completions", chat)[0] == 200
    assert [r.status for r in llm_server.requests] == [429, 500, 429, 200]


def test_replies_per_model_and_callable(llm_server: LLMServer) -> None:
    llm_server.set_reply("default")
    llm_server.set_reply(lambda body: json.dumps({"n": len(body["messages"])}), model="m2")
    assert post(llm_server, "/v1/messages", anthropic_body("m1"))[2]["content"][0]["text"] == \
        "default"
    assert post(llm_server, "/v1/messages", anthropic_body("m2"))[2]["content"][0]["text"] == \
        '{"n": 1}'


def test_auth_routes_and_env(llm_server: LLMServer) -> None:
    assert post(llm_server, "/v1/messages", anthropic_body(), key=None)[0] == 401
    assert post(llm_server, "/v1/nothing", anthropic_body())[0] == 404
    env = llm_server.env()
    assert env["ANTHROPIC_BASE_URL"] == llm_server.url
    assert env["GEMINI_BASE_URL"].endswith("/gemini/v1beta/openai/")
    assert {k: env[k] for k in TEST_KEYS} == TEST_KEYS
    assert "OPENAI_API_KEY" not in llm_server.env(keys=False)


def test_stall_released_by_reset(llm_server: LLMServer) -> None:
    llm_server.stall(30)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(post, llm_server, "/v1/messages", anthropic_body())
        llm_server.wait_for_requests(1)
        assert llm_server.requests[0].stalled == 30
        llm_server.release_stalls()
        assert future.result(timeout=5)[0] == 200  # released: long before its 30 s
