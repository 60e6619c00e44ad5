"""The batch APIs of the fake LLM server, at the wire level the official SDKs speak.

Anthropic Message Batches: `POST /v1/messages/batches` ({"requests": [{custom_id, params}]}),
`GET /v1/messages/batches/{id}`, `GET {results_url}` (JSONL), `POST .../{id}/cancel`,
`GET /v1/messages/batches?limit=&after_id=&before_id=` (newest first, paged).
OpenAI: `POST /v1/files` (multipart: `file`, `purpose=batch`), `POST /v1/batches`,
`GET /v1/batches/{id}`, `GET /v1/files/{id}/content`, `POST /v1/batches/{id}/cancel`,
`GET /v1/batches?limit=&after=` (newest first, paged, with each batch's metadata).

Every request of a batch is answered when the batch is created, through the same logic
as a direct request (`FakeLLM.serve`: replies, scripted failures, the prompt cache, the
record, under the path `/v1/messages/batches` or `/v1/batches`), so `server.fail(500,
times=2)` makes two items of the next batch error. Controls:

    server.batches.hold()                 # batches stay in progress until release()
    server.batches.release()
    server.batches.expire_next(after=1)   # the next batch expires: its first item is
                                          # answered, the others expire
    server.batches.fail_next("invalid")   # OpenAI: the next batch fails validation
    server.batches.fail_retrieve(404)     # every retrieve of a batch answers 404 (or a
                                          # 500, 401, ...) until fail_retrieve(None)
    server.batches.lose_answer(3.0)       # the next create is accepted, its answer held
                                          # 3 s (the client times out first)
    server.batches.lose_answer(4, commit_after=2)  # ... accepted 2 s after it arrived
    server.batches.page_limit = 2         # list pages hold at most 2 batches
    server.batches.live()                 # batches not canceled: what the provider bills
    server.batches.calls                  # [(method, path), ...] of every batch request
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.support import llm_wire as wire
from tests.support.llm_fake import SECRET_HEADERS

if TYPE_CHECKING:
    from tests.support.llm_fake import FakeLLM

ANTHROPIC_BATCHES = re.compile(r"^/v1/messages/batches(?:/([^/]+))?(?:/(results|cancel))?$")
OPENAI_BATCHES = re.compile(r"^.*/batches(?:/([^/]+))?(?:/(cancel))?$")
OPENAI_FILES = re.compile(r"^.*/files(?:/([^/]+))?(?:/(content))?$")
Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class _Batch:
    id: str
    api: wire.Api
    created: float  # time.time()
    ends_at: float  # time.monotonic()
    # custom id -> (status, payload, request id); items never processed are absent
    results: dict[str, tuple[int, dict[str, Any], str]] = field(default_factory=dict)
    custom_ids: list[str] = field(default_factory=list)
    expired: bool = False
    canceled: bool = False
    failure: str | None = None  # OpenAI: the whole batch failed validation
    input_file: str = ""
    metadata: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)  # "output" / "error" -> file id


class FakeBatches:
    def __init__(self, llm: FakeLLM) -> None:
        self.llm = llm
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._batches: dict[str, _Batch] = {}
            self._files: dict[str, bytes] = {}
            self.calls: list[tuple[str, str]] = []
            self._held = False
            self._expire: list[int] = []
            self._fail: list[str] = []
            self._retrieve_status: int | None = None
            self.seconds = 0.0  # processing time of a batch
            self.page_limit = 100  # the most batches a list page holds
            self._lose: list[tuple[float, float]] = []
            # Set: every withheld answer goes out now (a reset, or the server stopping).
            if (old := getattr(self, "_unstall", None)) is not None:
                old.set()
            self._unstall = threading.Event()

    # -- controls --------------------------------------------------------------------
    def hold(self) -> None:
        self._held = True

    def release(self) -> None:
        self._held = False

    def expire_next(self, *, after: int = 0) -> None:
        with self._lock:
            self._expire.append(after)

    def fail_next(self, reason: str = "the input file is invalid") -> None:
        with self._lock:
            self._fail.append(reason)

    def fail_retrieve(self, status: int | None) -> None:
        """Answer every retrieve of a batch (`GET .../batches/{id}`) with `status` (404: the
        batch is not found), until called with None."""
        with self._lock:
            self._retrieve_status = status

    def lose_answer(self, seconds: float, *, commit_after: float = 0.0) -> None:
        """The next batch create is accepted (`commit_after` seconds after it arrived: a
        provider slow to commit it) and answered `seconds` after it arrived: a client with
        a shorter timeout never learns that its batch exists."""
        with self._lock:
            self._lose.append((seconds, commit_after))

    def live(self) -> list[str]:
        """Batches created and not canceled: those whose requests the provider bills."""
        with self._lock:
            return [b.id for b in self._batches.values() if not b.canceled]

    def created(self) -> list[str]:
        with self._lock:
            return list(self._batches)

    def count(self, method: str, pattern: str) -> int:
        """Batch requests made with `method` whose path matches `pattern` (a regex)."""
        with self._lock:
            return sum(1 for m, p in self.calls if m == method and re.search(pattern, p))

    # -- serving ---------------------------------------------------------------------
    def handles(self, path: str) -> bool:
        return bool(ANTHROPIC_BATCHES.match(path) or OPENAI_BATCHES.match(path)
                    or OPENAI_FILES.match(path))

    def answer(self, method: str, path: str, headers: dict[str, str], raw: bytes,
               base: str, query: str = "") -> Answer:
        with self._lock:
            self.calls.append((method, path))
            lose = self._lose.pop(0) if self._lose and method == "POST" and (
                path.endswith("/messages/batches") or re.search(r"/batches$", path)) \
                else None
            unstall = self._unstall
        if lose is not None and lose[1] > 0:
            unstall.wait(lose[1])
        answer = self._answer(method, path, headers, raw, base, query)
        if lose is not None:
            unstall.wait(max(0.0, lose[0] - lose[1]))
        return answer

    def _answer(self, method: str, path: str, headers: dict[str, str], raw: bytes,
                base: str, query: str) -> Answer:
        if self.llm.require_auth and not SECRET_HEADERS.intersection(headers):
            return _json(401, {"error": {"type": "authentication_error",
                                         "message": "missing API key"}})
        retrieve = method == "GET" and not OPENAI_FILES.match(path)
        if retrieve and self._retrieve_status is not None and (
                (m := ANTHROPIC_BATCHES.match(path) or OPENAI_BATCHES.match(path))
                and m.group(1) and not m.group(2)):
            return self._retrieve_error(path, self._retrieve_status)
        params = dict(urllib.parse.parse_qsl(query))
        if method == "GET" and path.rstrip("/").endswith("batches"):
            api: wire.Api = "anthropic" if ANTHROPIC_BATCHES.match(path) else "openai"
            return self._list(api, params, base)
        if match := ANTHROPIC_BATCHES.match(path):
            return self._anthropic(method, match.group(1), match.group(2), raw, base)
        if match := OPENAI_FILES.match(path):
            return self._openai_files(method, match.group(1), match.group(2), headers, raw)
        match = OPENAI_BATCHES.match(path)
        assert match is not None
        return self._openai(method, match.group(1), match.group(2), raw)

    @staticmethod
    def _retrieve_error(path: str, status: int) -> Answer:
        message = "no such batch" if status == 404 else f"retrieve failed ({status})"
        if ANTHROPIC_BATCHES.match(path):
            return _json(status, wire.error_body("anthropic", status, None, message))
        return _openai_error(status, message)

    def _new(self, api: wire.Api, requests: list[tuple[str, str, dict[str, Any]]],
             prefix: str) -> _Batch:
        """A batch of (custom id, path, body) requests, each answered now."""
        with self._lock:
            batch = _Batch(f"{prefix}{next(self._ids):06d}", api, time.time(),
                           time.monotonic() + self.seconds)
            expire = self._expire.pop(0) if self._expire else None
            batch.failure = self._fail.pop(0) if self._fail and api == "openai" else None
            self._batches[batch.id] = batch
        batch.custom_ids = [cid for cid, _, _ in requests]
        if batch.failure is not None:
            return batch
        recorded = "/v1/messages/batches" if api == "anthropic" else "/v1/batches"
        for i, (cid, path, body) in enumerate(requests):
            if expire is not None and i >= expire:
                batch.expired = True
                continue
            status, out_headers, payload, _, _ = self.llm.serve(
                api, path, {}, body, arrived=time.monotonic(), recorded_as=recorded,
                check_auth=False)
            batch.results[cid] = (status, payload, dict(out_headers).get(
                "request-id" if api == "anthropic" else "x-request-id", ""))
        return batch

    def _list(self, api: wire.Api, params: dict[str, str], base: str) -> Answer:
        """A page of `api`'s batches, newest first, as each provider pages them (Anthropic:
        `after_id`/`before_id`, OpenAI: `after`; `has_more`, `first_id`, `last_id`)."""
        with self._lock:
            every = [b for b in reversed(self._batches.values()) if b.api == api]
        ids = [b.id for b in every]
        limit = min(int(params.get("limit") or 20), self.page_limit)
        after = params.get("after_id" if api == "anthropic" else "after")
        before = params.get("before_id")
        if after in ids:
            every = every[ids.index(after) + 1:]
        elif before in ids:
            every = every[:ids.index(before)][-limit:]
        page = every[:limit]
        data = [self._message_batch(b, base) if api == "anthropic" else self._openai_batch(b)
                for b in page]
        body: dict[str, Any] = {
            "data": data, "has_more": len(every) > len(page),
            "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None}
        if api == "openai":
            body["object"] = "list"
        return _json(200, body)

    def _ended(self, batch: _Batch) -> bool:
        return batch.failure is not None or batch.canceled or (
            not self._held and time.monotonic() >= batch.ends_at)

    # -- Anthropic -------------------------------------------------------------------
    def _anthropic(self, method: str, batch_id: str | None, action: str | None, raw: bytes,
                   base: str) -> Answer:
        if method == "POST" and batch_id is None:
            body = json.loads(raw or b"{}")
            requests = [(str(r["custom_id"]), "/v1/messages", dict(r["params"]))
                        for r in body.get("requests") or []]
            return _json(200, self._message_batch(self._new("anthropic", requests,
                                                            "msgbatch_test_"), base))
        batch = self._batches.get(batch_id or "")
        if batch is None:
            return _json(404, {"type": "error", "error": {"type": "not_found_error",
                                                          "message": "no such batch"}})
        if action == "cancel":
            batch.canceled = True
            return _json(200, self._message_batch(batch, base))
        if action == "results":
            if not self._ended(batch):
                return _json(400, {"type": "error", "error": {
                    "type": "invalid_request_error", "message": "batch not ended"}})
            lines = [json.dumps({"custom_id": cid, "result": _anthropic_result(batch, cid)})
                     for cid in batch.custom_ids]
            return 200, [("content-type", "application/binary")], \
                ("\n".join(lines) + "\n").encode()
        return _json(200, self._message_batch(batch, base))

    def _message_batch(self, batch: _Batch, base: str) -> dict[str, Any]:
        ended = self._ended(batch)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        for cid in batch.custom_ids:
            kind = _anthropic_result(batch, cid)["type"] if ended else "processing"
            counts[kind] += 1
        created = datetime.fromtimestamp(batch.created, UTC)
        return {
            "id": batch.id, "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts, "created_at": _iso(created),
            "expires_at": _iso(created + timedelta(days=1)),
            "ended_at": _iso(datetime.now(UTC)) if ended else None,
            "archived_at": None, "cancel_initiated_at": _iso(created) if batch.canceled else None,
            "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    # -- OpenAI ----------------------------------------------------------------------
    def _openai_files(self, method: str, file_id: str | None, action: str | None,
                      headers: dict[str, str], raw: bytes) -> Answer:
        if method == "POST" and file_id is None:
            parts = _multipart(headers.get("content-type", ""), raw)
            if parts.get("purpose") != b"batch" or "file" not in parts:
                return _openai_error(400, "upload a JSONL file with purpose=batch")
            with self._lock:
                new_id = f"file-test-{next(self._ids):06d}"
                self._files[new_id] = parts["file"]
            return _json(200, {"id": new_id, "object": "file", "bytes": len(parts["file"]),
                               "created_at": int(time.time()), "filename": "batch.jsonl",
                               "purpose": "batch", "status": "processed"})
        content = self._files.get(file_id or "")
        if content is None:
            return _openai_error(404, "no such file")
        if action == "content":
            return 200, [("content-type", "application/octet-stream")], content
        return _json(200, {"id": file_id, "object": "file", "bytes": len(content),
                           "created_at": int(time.time()), "filename": "batch.jsonl",
                           "purpose": "batch", "status": "processed"})

    def _openai(self, method: str, batch_id: str | None, action: str | None,
                raw: bytes) -> Answer:
        if method == "POST" and batch_id is None:
            body = json.loads(raw or b"{}")
            content = self._files.get(str(body.get("input_file_id")))
            if content is None:
                return _openai_error(400, "unknown input_file_id")
            requests = []
            for line in content.splitlines():
                if line.strip():
                    r = json.loads(line)
                    requests.append((str(r["custom_id"]), str(r["url"]), dict(r["body"])))
            batch = self._new("openai", requests, "batch_test_")
            batch.input_file, batch.metadata = str(body["input_file_id"]), body.get("metadata")
            return _json(200, self._openai_batch(batch))
        batch = self._batches.get(batch_id or "")
        if batch is None:
            return _openai_error(404, "no such batch")
        if action == "cancel":
            batch.canceled = True
        return _json(200, self._openai_batch(batch))

    def _openai_batch(self, batch: _Batch) -> dict[str, Any]:
        ended = self._ended(batch)
        if ended and not batch.files and batch.failure is None:
            self._write_files(batch)
        status = ("failed" if batch.failure is not None else "cancelled" if batch.canceled
                  else "expired" if ended and batch.expired else "completed" if ended
                  else "in_progress")
        ok = sum(1 for s, _, _ in batch.results.values() if s == 200)
        done = len(batch.custom_ids) - ok if ended else 0
        return {
            "id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions",
            "input_file_id": batch.input_file, "completion_window": "24h", "status": status,
            "created_at": int(batch.created), "expires_at": int(batch.created) + 86400,
            "output_file_id": batch.files.get("output"),
            "error_file_id": batch.files.get("error"),
            "errors": {"object": "list", "data": [
                {"code": "invalid_file", "message": batch.failure, "line": 1, "param": None}]}
            if batch.failure else None,
            "request_counts": {"total": len(batch.custom_ids), "completed": ok if ended else 0,
                               "failed": done},
            "metadata": batch.metadata,
        }

    def _write_files(self, batch: _Batch) -> None:
        output, errors = [], []
        for n, cid in enumerate(batch.custom_ids):
            line_id = f"batch_req_{batch.id}_{n}"
            if cid not in batch.results:
                code = "batch_cancelled" if batch.canceled else "batch_expired"
                errors.append({"id": line_id, "custom_id": cid, "response": None, "error": {
                    "code": code, "message": "This request could not be executed before the "
                    "completion window expired."}})
                continue
            status, payload, request_id = batch.results[cid]
            line = {"id": line_id, "custom_id": cid, "error": None, "response": {
                "status_code": status, "request_id": request_id, "body": payload}}
            (output if status == 200 else errors).append(line)
        with self._lock:
            for kind, lines in (("output", output), ("error", errors)):
                if lines:
                    file_id = f"file-test-{next(self._ids):06d}"
                    self._files[file_id] = "".join(json.dumps(x) + "\n" for x in lines).encode()
                    batch.files[kind] = file_id


def _anthropic_result(batch: _Batch, cid: str) -> dict[str, Any]:
    if cid not in batch.results:
        return {"type": "canceled" if batch.canceled else "expired"}
    status, payload, request_id = batch.results[cid]
    if status == 200:
        return {"type": "succeeded", "message": payload}
    return {"type": "errored", "error": {**payload, "request_id": request_id}}


def _multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    return parts


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _json(status: int, body: dict[str, Any]) -> Answer:
    return status, [("content-type", "application/json")], json.dumps(body).encode()


def _openai_error(status: int, message: str) -> Answer:
    return _json(status, wire.error_body("openai", status, None, message))
