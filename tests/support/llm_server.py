"""A fake LLM API on a loopback port: Anthropic `POST /v1/messages` and OpenAI-style
`POST {any prefix}/chat/completions`, both providers' batch APIs (`llm_batches`) and their
usage and cost reports (`llm_reports`), with realistic usage (see `llm_wire` for the
token formula), scripted failures and a record of every request.

    server.set_reply("hi")                          # every model
    server.set_reply(lambda body: "{}", model="claude-haiku-4-5")
    server.rate_limit(times=1, retry_after=1)       # next request: 429 + retry-after: 1
    server.fail(529, times=2, model="claude-opus-4-6")
    server.stall(5.0)                               # next request answers after 5 s
    server.batches.hold()                           # batch APIs: see `llm_batches`
    server.reports.add(Entry(...))                  # usage and cost reports: `llm_reports`
    server.requests                                 # [RecordedRequest, ...]
    server.env()                                    # base URLs + dummy keys for subprocesses

Failure rules are consumed in order, each by the first request whose model matches.
Thread-safe; one thread per connection (keep-alive), so many concurrent clients are fine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.llm_batches import FakeBatches
from tests.support.llm_fake import REDACTED, SECRET_HEADERS, FakeLLM, RecordedRequest, Reply
from tests.support.llm_reports import ADMIN_KEYS, FakeReports

__all__ = [
    "REDACTED", "SECRET_HEADERS", "TEST_KEYS", "LLMServer", "RecordedRequest", "Reply",
    "llm_server", "llm_server_session",
]
# Dummy keys of the test environment; tests search logs and results for these strings.
TEST_KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-test-3c9f1e7d2b8a4f60",
    "OPENAI_API_KEY": "sk-openai-test-5e2d8c1a9b7f4e30",
    "MOONSHOT_API_KEY": "sk-moonshot-test-8a1b6c3d2e9f7a40",
    "GEMINI_API_KEY": "gemini-test-key-4d7e2a9c1b8f3e50",
    # the usage and cost reports' admin keys (`llm_reports`)
    "ANTHROPIC_ADMIN_KEY": ADMIN_KEYS["anthropic"],
    "OPENAI_ADMIN_KEY": ADMIN_KEYS["openai"],
}


class LLMServer(FakeLLM):
    """`FakeLLM` served over HTTP on a free loopback port."""

    def __init__(self, host: str = "127.0.0.1", *, max_records: int = 100_000) -> None:
        super().__init__(max_records=max_records)
        self._host = host
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.batches = FakeBatches(self)
        self.reports = FakeReports()

    def reset(self) -> None:
        super().reset()
        self.batches.reset()
        self.reports.reset()

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> LLMServer:
        httpd = _Server((self._host, 0), _Handler)
        httpd.llm = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="llm-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release_stalls()
        self.batches.reset()  # and the withheld batch answers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where it listens ----------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://{self._host}:{self._httpd.server_address[1]}"

    @property
    def base_urls(self) -> dict[str, str]:
        """Base URL per provider, as the SDKs expect them (Anthropic appends /v1/messages)."""
        return {
            "anthropic": self.url,
            "openai": f"{self.url}/v1",
            "moonshot": f"{self.url}/moonshot/v1",
            "google": f"{self.url}/gemini/v1beta/openai/",
        }

    def env(self, *, keys: bool = True) -> dict[str, str]:
        """Environment pointing every provider at this server (plus dummy keys)."""
        urls = self.base_urls
        out = {
            "ANTHROPIC_BASE_URL": urls["anthropic"],
            "OPENAI_BASE_URL": urls["openai"],
            "MOONSHOT_BASE_URL": urls["moonshot"],
            "GEMINI_BASE_URL": urls["google"],
        }
        return {**out, **TEST_KEYS} if keys else out

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: bursts of many workers' connections
    llm: LLMServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDKs pool their connections
    # Answers go out as two writes (headers, then body); with Nagle's algorithm on, the
    # body waits for the client's delayed ACK: ~40 ms per answer on Linux. Real APIs
    # do not do that, so neither does this server.
    disable_nagle_algorithm = True
    timeout = 120  # an idle keep-alive connection frees its thread after this

    def _batches(self, method: str, raw: bytes) -> bool:
        """Answer a request of the batch APIs; False: it is not one."""
        assert isinstance(self.server, _Server)
        path = self.path.split("?")[0]
        batches = self.server.llm.batches
        if not batches.handles(path):
            return False
        headers = {k.lower(): v for k, v in self.headers.items()}
        base = f"http://{self.headers.get('host') or self.server.llm.url.split('//')[1]}"
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        status, extra, payload = batches.answer(method, path, headers, raw, base, query)
        try:
            self.send_response(status)
            for name, value in extra:
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (a withheld answer): nothing to answer
            self.close_connection = True
        return True

    def do_POST(self) -> None:
        assert isinstance(self.server, _Server)
        llm = self.server.llm
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self._batches("POST", raw):
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, payload, delay, release = llm.answer(self.path.split("?")[0], headers, raw)
        if delay > 0 and release.wait(delay):
            self.close_connection = True
        try:
            self.send_response(status)
            for name, value in [("content-type", "application/json"), *extra]:
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (timeout): nothing to answer
            self.close_connection = True

    def do_GET(self) -> None:
        assert isinstance(self.server, _Server)
        path, _, query = self.path.partition("?")
        reports = self.server.llm.reports
        if reports.handles(path):
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = reports.answer(path, query, headers)
            self.send_response(status)
            for name, value in extra:
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if self._batches("GET", b""):
            return
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def llm_server_session() -> Iterator[LLMServer]:
    """One server for the whole run (its URL is stable); use `llm_server` in tests."""
    with LLMServer() as server:
        yield server


@pytest.fixture
def llm_server(llm_server_session: LLMServer) -> Iterator[LLMServer]:
    """The shared server, reset before and after the test."""
    llm_server_session.reset()
    yield llm_server_session
    llm_server_session.reset()
