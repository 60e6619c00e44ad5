"""The OpenAI Batch API through the official SDK (`client.files`, `client.batches`).

`prepare` uploads the requests as one JSONL file (`purpose="batch"`, one line per request:
`custom_id`, `method`, `url` `/v1/chat/completions`, `body`); `create` starts a batch on it
(`completion_window="24h"`); `retrieve` says `validating`, `in_progress`, `finalizing`,
`cancelling`, or the end: `completed`, `expired`, `cancelled` (the requests done by then
are in the output file, the others in the error file) or `failed` (the whole file was
refused). `results` reads the output and error files: a line with a 200 response is a
completion, another status an error classified as a direct call's, an error without a
response (`batch_expired`, `batch_cancelled`) a request never processed. Every batch
carries its llm-router label in its `metadata` (`LABEL`): `find` matches a submission by
it when a create's answer was lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, Final, TypeVar

import openai
from openai.types.chat import ChatCompletion

from workers.providers import failures
from workers.providers.batch import (
    BatchItem,
    BatchStatus,
    ItemResult,
    ProviderBatch,
    Unprocessed,
)
from workers.providers.errors import ProviderError
from workers.providers.openai_compat import (
    OpenAICompatProvider,
    chat_params,
    completion_from_chat,
    sdk_error,
)

T = TypeVar("T")
ENDPOINT: Final = "/v1/chat/completions"
LABEL: Final = "llm_router_batch"  # the metadata key of a batch's llm-router label
PAGE: Final = 100  # the largest page the list endpoint gives
_ENDED: dict[str, Unprocessed] = {"completed": "failed", "expired": "expired",
                                  "cancelled": "canceled", "failed": "failed"}
_UNPROCESSED: dict[str, Unprocessed] = {"batch_expired": "expired",
                                        "batch_cancelled": "canceled"}


class OpenAIBatches:
    """`BatchAPI` for `provider: openai` models; thread-safe like its provider."""

    name = "openai"

    def __init__(self, provider: OpenAICompatProvider, *, timeout: float) -> None:
        self.provider = provider
        self.client = provider.client
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OpenAIBatches(base_url={self.provider.base_url!r})"

    def prepare(self, items: Sequence[BatchItem], *, label: str) -> str | None:
        lines = [json.dumps({"custom_id": item.custom_id, "method": "POST", "url": ENDPOINT,
                             "body": chat_params(self.provider.name, item.request)},
                            separators=(",", ":"))
                 for item in items]
        data = ("\n".join(lines) + "\n").encode()
        uploaded = self._call(lambda: self.client.files.create(
            file=(f"llm-router-{label}.jsonl", data, "application/jsonl"), purpose="batch",
            timeout=self.timeout))
        return uploaded.id

    def create(self, items: Sequence[BatchItem], prepared: str | None, *, label: str) -> str:
        if prepared is None:
            raise ValueError("an OpenAI batch needs its uploaded file (prepare first)")
        batch = self._call(lambda: self.client.batches.create(
            input_file_id=prepared, endpoint=ENDPOINT, completion_window="24h",
            metadata={LABEL: label}, timeout=self.timeout))
        return batch.id

    def status(self, batch_id: str) -> BatchStatus:
        batch = self._call(lambda: self.client.batches.retrieve(batch_id, timeout=self.timeout))
        counts = batch.request_counts
        detail = batch.status + (f": {counts.completed} completed, {counts.failed} failed of "
                                 f"{counts.total}" if counts else "")
        reasons = [e.message or e.code or "" for e in (batch.errors.data or [])] \
            if batch.errors else []
        reason = "; ".join(r for r in reasons if r) or f"the batch is {batch.status}"
        files = tuple(f for f in (batch.output_file_id, batch.error_file_id) if f)
        return BatchStatus(batch.id, batch.status in _ENDED, detail,
                           unfinished=_ENDED.get(batch.status, "failed"), reason=reason,
                           files=files)

    def listing(self, since: float) -> Iterator[ProviderBatch]:
        page = self._call(lambda: self.client.batches.list(limit=PAGE, timeout=self.timeout))
        while True:
            for b in page.data:
                if b.created_at < since:  # newest first: the rest are older
                    return
                yield ProviderBatch(b.id, float(b.created_at), b.status,
                                    b.request_counts.total if b.request_counts else 0,
                                    b.status in _ENDED, (b.metadata or {}).get(LABEL))
            if not page.has_next_page():
                return
            page = self._call(page.get_next_page)

    def find(self, items: Sequence[BatchItem], label: str, since: float) -> list[str]:
        return [b.id for b in reversed(list(self.listing(since))) if b.label == label]

    def cancel(self, batch_id: str) -> None:
        self._call(lambda: self.client.batches.cancel(batch_id, timeout=self.timeout))

    def results(self, status: BatchStatus, items: Sequence[BatchItem]) -> Iterator[ItemResult]:
        for file_id in status.files:
            content = self._call(partial(self._content, file_id))
            for raw in content.splitlines():
                if raw.strip():
                    yield self._result(json.loads(raw))

    def _content(self, file_id: str) -> bytes:
        return self.client.files.content(file_id, timeout=self.timeout).content

    def _result(self, line: dict[str, Any]) -> ItemResult:
        custom_id = str(line.get("custom_id"))
        response = line.get("response") or {}
        error = line.get("error") or {}
        status = int(response.get("status_code") or 0)
        if status == 200:
            try:
                chat = ChatCompletion.model_validate(response.get("body") or {})
            except ValueError as exc:  # not a chat completion
                return ItemResult(custom_id, error=failures.transient(
                    self.name, f"invalid response: {exc}", secrets=self._secrets()))
            return ItemResult(custom_id, completion=completion_from_chat(chat, 0.0))
        if status:
            body = (response.get("body") or {}).get("error") or {}
            return ItemResult(custom_id, error=failures.from_status(
                self.name, status, headers={}, error_type=body.get("type") or body.get("code"),
                message=str(body.get("message") or ""), request_id=response.get("request_id"),
                secrets=self._secrets()))
        code = str(error.get("code") or "")
        if code in _UNPROCESSED:
            return ItemResult(custom_id, unprocessed=_UNPROCESSED[code],
                              reason=str(error.get("message") or code))
        return ItemResult(custom_id, error=failures.transient(
            self.name, f"batch request failed: {code} {error.get('message') or ''}".strip(),
            secrets=self._secrets()))

    def _secrets(self) -> tuple[str]:
        return self.provider._secrets()

    def _call(self, request: Callable[[], T]) -> T:
        error: ProviderError
        try:
            return request()
        except openai.OpenAIError as exc:
            error = sdk_error(self.name, exc, timeout=self.timeout, secrets=self._secrets())
        # Outside the `except` block: the SDK exception (with the request and its key
        # header) is neither chained nor kept as context.
        raise error
