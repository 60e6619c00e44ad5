"""The state machine of the fake LLM API (no sockets): replies, scripted failures, the
prompt cache and the record of requests. `llm_server.LLMServer` puts it on HTTP.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support import llm_structured as structured
from tests.support import llm_wire as wire

# A reply text, or a function of the request JSON (None: as if no reply were set)
Reply = str | Callable[[dict[str, Any]], str | None]
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})
REDACTED = "[redacted]"


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    api: wire.Api
    model: str | None
    max_tokens: int | None
    system: str | None
    cache_control: bool  # the system (or request) asked for prompt caching
    message_count: int  # messages other than system ones
    headers: dict[str, str]  # lower-case names; secret values replaced by "[redacted]"
    body: dict[str, Any]
    time: float  # time.monotonic() at arrival
    status: int  # the status answered (200, 429, ...)
    stalled: float  # seconds the answer was held back by `stall` (0 if none)
    usage: dict[str, Any] | None  # the usage returned (None for errors)
    text: str | None  # the reply text returned (None for errors)
    request_id: str


@dataclass
class _Rule:
    remaining: int
    model: str | None
    status: int = 200
    stall: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    error_type: str | None = None
    message: str = ""
    until: float | None = None  # a storm: every request until this time.monotonic()


def default_reply(body: dict[str, Any]) -> str:
    return f"test reply from {body.get('model')}"


class FakeLLM:
    """Thread-safe; every public method may be called while requests are served."""

    def __init__(self, *, max_records: int = 100_000) -> None:
        self.latency = 0.0  # seconds added to every answer
        self.min_cache_tokens = 0
        self.require_auth = True  # 401 when no key header at all, like the real APIs
        self.default_reply: Reply = default_reply
        self._lock = threading.Lock()
        self._replies: dict[str, Reply] = {}
        self._rules: list[_Rule] = []
        self._records: deque[RecordedRequest] = deque(maxlen=max_records)
        self._cache: set[tuple[str, str | None, str]] = set()
        self._seq = itertools.count(1)
        self._release = threading.Event()

    # -- lifecycle -----------------------------------------------------------------
    def reset(self) -> None:
        """Forget rules, replies, records and the prompt cache; release stalled answers."""
        with self._lock:
            self._rules.clear()
            self._replies.clear()
            self._records.clear()
            self._cache.clear()
        self.release_stalls()
        self.latency, self.min_cache_tokens, self.require_auth = 0.0, 0, True
        self.default_reply = default_reply

    def release_stalls(self) -> None:
        """Answer every request held back by `stall` or `latency` now."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()

    # -- scripting -------------------------------------------------------------------
    def set_reply(self, reply: Reply, *, model: str | None = None) -> None:
        """Reply text (or a function of the request JSON) for `model`, or the default."""
        with self._lock:
            if model is None:
                self.default_reply = reply
            else:
                self._replies[model] = reply

    def fail(self, status: int, *, times: int = 1, model: str | None = None,
             retry_after: float | str | None = None, retry_after_ms: float | None = None,
             error_type: str | None = None, message: str | None = None) -> None:
        """Answer the next `times` requests (for `model`, or any) with this error."""
        headers: list[tuple[str, str]] = []
        if retry_after is not None:
            headers.append(("retry-after", _num(retry_after)))
        if retry_after_ms is not None:
            headers.append(("retry-after-ms", _num(retry_after_ms)))
        self._add(_Rule(times, model, status, headers=tuple(headers), error_type=error_type,
                        message=message or f"scripted failure {status}"))

    def rate_limit(self, *, times: int = 1, retry_after: float | str | None = 1,
                   retry_after_ms: float | None = None, model: str | None = None) -> None:
        self.fail(429, times=times, model=model, retry_after=retry_after,
                  retry_after_ms=retry_after_ms, message="rate limit exceeded")

    def storm(self, seconds: float, *, retry_after: float = 1, model: str | None = None) -> None:
        """Answer 429 with `retry_after` to every request (for `model`) for `seconds`."""
        self._add(_Rule(1, model, 429, headers=(("retry-after", _num(retry_after)),),
                        message="rate limit exceeded", until=time.monotonic() + seconds))

    def overloaded(self, *, times: int = 1, model: str | None = None) -> None:
        self.fail(529, times=times, model=model, message="Overloaded")

    def server_error(self, *, times: int = 1, model: str | None = None) -> None:
        self.fail(500, times=times, model=model, message="internal server error")

    def bad_request(self, *, times: int = 1, model: str | None = None,
                    message: str = "invalid request") -> None:
        self.fail(400, times=times, model=model, message=message)

    def stall(self, seconds: float, *, times: int = 1, model: str | None = None) -> None:
        """Hold the next answers for `seconds` (past a client's timeout), then answer."""
        self._add(_Rule(times, model, stall=seconds))

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    # -- what it saw -----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while len(seen := self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(seen)}")
            time.sleep(0.01)
        return seen

    # -- serving ---------------------------------------------------------------------
    def _take_rule(self, model: str | None) -> _Rule | None:
        now = time.monotonic()
        for rule in self._rules:
            if rule.until is not None:
                if rule.model in (None, model) and now < rule.until:
                    return rule
                continue
            if rule.remaining > 0 and rule.model in (None, model):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule
        return None

    def answer(self, path: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, list[tuple[str, str]], bytes, float, threading.Event]:
        """(status, headers, body, delay, release event) for one request."""
        arrived = time.monotonic()
        api: wire.Api | None = (
            "anthropic" if path.endswith("/v1/messages")
            else "openai" if path.endswith("/chat/completions") else None
        )
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if api is None or not isinstance(body, dict):
            status = 404 if api is None else 400
            return status, [], json.dumps({"error": {"message": "bad route or JSON"}}).encode(), \
                0.0, self._release
        status, out_headers, payload, stall, release = self.serve(
            api, path, headers, body, arrived=arrived)
        return status, out_headers, json.dumps(payload).encode(), self.latency + stall, release

    def serve(self, api: wire.Api, path: str, headers: dict[str, str], body: dict[str, Any], *,
              arrived: float, recorded_as: str | None = None, check_auth: bool = True
              ) -> tuple[int, list[tuple[str, str]], dict[str, Any], float, threading.Event]:
        """(status, headers, body JSON, stall, release event) of one completion request,
        recorded under `recorded_as` (default `path`). Batch items come through here too,
        so scripted failures, replies, the cache and the record apply to them alike."""
        model = body.get("model") if isinstance(body.get("model"), str) else None
        prompt = wire.read_prompt(api, body)
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        with self._lock:
            seq = next(self._seq)
            request_id = f"req_test_{seq:08d}"
            if check_auth and self.require_auth and not SECRET_HEADERS.intersection(headers):
                rule: _Rule | None = _Rule(1, None, 401, message="missing API key")
            else:
                rule = self._take_rule(model)
            reply_for = self._replies.get(model or "", self.default_reply)
            release = self._release
        out_headers = [("request-id" if api == "anthropic" else "x-request-id", request_id)]
        usage: dict[str, Any] | None = None
        text: str | None = None
        if rule is not None and rule.status != 200:
            status = rule.status
            out_headers += list(rule.headers)
            payload = wire.error_body(api, status, rule.error_type, rule.message)
        else:
            status = 200
            # an agent turn is answered as the simulated provider would, unless a reply is
            # set for it (a reply function returning None leaves the turn to that rule); a
            # request for a schema gets a document of it
            reply = None if reply_for is default_reply else \
                reply_for(body) if callable(reply_for) else reply_for
            agent = wire.tool_answer(api, body) if reply is None else None
            calls: tuple[Any, ...] = ()
            if agent is not None:
                text, calls, truncated = agent[0], agent[1], False
            else:
                if reply is None:
                    reply = structured.schema_reply(api, body) or default_reply(body)
                text, truncated = wire.cut(reply, max_tokens if isinstance(max_tokens, int)
                                           else None)
            out_tokens = wire.tokens(text) + sum(wire.tokens(json.dumps(c.arguments)) + 8
                                                 for c in calls)
            usage = self._usage(api, path, model, prompt, out_tokens)
            payload = wire.success_body(api, model=model or "", text=text, truncated=truncated,
                                        usage=usage, seq=seq, tool_calls=calls)
            tool = structured.forced_tool(api, body) if agent is None else None
            content = structured.tool_use_content(tool, text, seq) if tool else None
            if content is not None and not truncated:
                payload.update(content=content, stop_reason="tool_use")
        stall = rule.stall if rule is not None else 0.0
        safe = {k: (REDACTED if k in SECRET_HEADERS else v) for k, v in headers.items()}
        record = RecordedRequest(
            path=recorded_as or path, api=api, model=model,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            system=prompt.system, cache_control=prompt.cache_control,
            message_count=prompt.message_count, headers=safe, body=body, time=arrived,
            status=status, stalled=stall, usage=usage, text=text, request_id=request_id,
        )
        with self._lock:
            self._records.append(record)
        return status, out_headers, payload, stall, release

    def _usage(self, api: wire.Api, path: str, model: str | None, prompt: wire.Prompt,
               output: int) -> dict[str, Any]:
        cacheable = bool(prompt.system) and prompt.system_tokens >= self.min_cache_tokens
        key = (path if api == "openai" else "anthropic", model, prompt.system or "")
        with self._lock:
            seen = key in self._cache
            if cacheable and (api == "openai" or prompt.cache_control):
                self._cache.add(key)
        if api == "anthropic":
            cached = seen if cacheable and prompt.cache_control else None
            return wire.anthropic_usage(prompt, output, cached=cached)
        return wire.openai_usage(prompt, output, cached=cacheable and seen)


def _num(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
