"""Anthropic Message Batches through the official SDK (`client.messages.batches`).

`create` posts every request (`custom_id`, Messages API `params`) at once; `retrieve` says
`in_progress`, `canceling` or `ended`; once ended, `results` streams the JSONL at the
batch's `results_url`, one line per request: `succeeded` (a Message), `errored` (an error
response: classified as the same error of a direct call), `canceled` or `expired`. The
provider's own client is reused (its connection pool, no SDK retries, its timeout).

Message batches carry no metadata, and their requests are not readable before the batch
is over. So `find` (a create whose answer was lost) takes a batch created in the window
with as many requests as the submission, and once it is over only if its requests'
custom ids are exactly the submission's. Another batch of that size, created in the same
minutes with the same key, would be mistaken for it while in progress (its answers then
match no task: each task is called directly, by its key's `on_failure`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import anthropic
from anthropic.types.messages import batch_create_params

from workers.providers import failures
from workers.providers.anthropic import (
    AnthropicProvider,
    completion_from_body,
    message_params,
    sdk_error,
)
from workers.providers.batch import BatchItem, BatchStatus, ItemResult, ProviderBatch
from workers.providers.errors import ProviderError

T = TypeVar("T")
PAGE = 100  # the largest page the list endpoint gives
# An errored request's error type -> the HTTP status a direct call would have had.
ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
    "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
    "rate_limit_error": 429, "api_error": 500, "overloaded_error": 529,
}


class AnthropicBatches:
    """`BatchAPI` for `provider: anthropic` models; thread-safe like its provider."""

    name = "anthropic"

    def __init__(self, provider: AnthropicProvider, *, timeout: float) -> None:
        self.provider = provider
        self.client = provider.client
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AnthropicBatches(base_url={self.provider.base_url!r})"

    def prepare(self, items: Sequence[BatchItem], *, label: str) -> str | None:
        return None  # one request does it all

    def create(self, items: Sequence[BatchItem], prepared: str | None, *, label: str) -> str:
        requests = [cast(batch_create_params.Request,
                         {"custom_id": item.custom_id, "params": message_params(item.request)})
                    for item in items]
        batch = self._call(lambda: self.client.messages.batches.create(
            requests=requests, timeout=self.timeout))
        return batch.id

    def status(self, batch_id: str) -> BatchStatus:
        batch = self._call(lambda: self.client.messages.batches.retrieve(
            batch_id, timeout=self.timeout))
        counts = batch.request_counts
        detail = (f"{batch.processing_status}: {counts.succeeded} succeeded, "
                  f"{counts.errored} errored, {counts.expired} expired, "
                  f"{counts.canceled} canceled, {counts.processing} processing")
        return BatchStatus(batch.id, batch.processing_status == "ended", detail,
                           unfinished="expired", reason="the batch's 24 hours ran out")

    def listing(self, since: float) -> Iterator[ProviderBatch]:
        page = self._call(lambda: self.client.messages.batches.list(
            limit=PAGE, timeout=self.timeout))
        while True:
            for b in page.data:
                created = b.created_at.timestamp()
                if created < since:  # newest first: the rest are older
                    return
                c = b.request_counts
                total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
                yield ProviderBatch(b.id, created, b.processing_status, total,
                                    b.processing_status == "ended")
            if not page.has_next_page():
                return
            page = self._call(page.get_next_page)

    def find(self, items: Sequence[BatchItem], label: str, since: float) -> list[str]:
        wanted = {item.custom_id for item in items}
        found = [b for b in self.listing(since) if b.requests == len(wanted)]
        return [b.id for b in reversed(found) if not b.ended or self._custom_ids(b.id) == wanted]

    def cancel(self, batch_id: str) -> None:
        self._call(lambda: self.client.messages.batches.cancel(batch_id, timeout=self.timeout))

    def _custom_ids(self, batch_id: str) -> set[str]:
        return self._call(lambda: {line.custom_id for line in self.client.messages.batches.results(
            batch_id, timeout=self.timeout)})

    def results(self, status: BatchStatus, items: Sequence[BatchItem]) -> Iterator[ItemResult]:
        # Read whole before yielding: an HTTP failure midway is one ProviderError.
        lines = self._call(lambda: [line.model_dump(mode="json") for line in
                                    self.client.messages.batches.results(
                                        status.id, timeout=self.timeout)])
        for line in lines:
            yield self._result(line)

    def _result(self, line: dict[str, Any]) -> ItemResult:
        custom_id = str(line.get("custom_id"))
        result = line.get("result") or {}
        kind = result.get("type")
        if kind == "succeeded":
            return ItemResult(custom_id, completion=completion_from_body(
                result.get("message") or {}, None, 0.0))
        if kind == "errored":
            response = result.get("error") or {}
            error = response.get("error") or {}
            error_type = str(error.get("type") or "api_error")
            return ItemResult(custom_id, error=failures.from_status(
                self.name, ERROR_STATUS.get(error_type, 500), headers={},
                error_type=error_type, message=str(error.get("message") or ""),
                request_id=response.get("request_id"), secrets=self._secrets()))
        if kind in ("canceled", "expired"):
            return ItemResult(custom_id, unprocessed=kind,
                              reason=f"the request was {kind} by Anthropic")
        return ItemResult(custom_id, unprocessed="failed", reason=f"unknown result {kind!r}")

    def _secrets(self) -> tuple[str]:
        return self.provider._secrets()

    def _call(self, request: Callable[[], T]) -> T:
        error: ProviderError
        try:
            return request()
        except anthropic.AnthropicError as exc:
            error = sdk_error(self.name, exc, timeout=self.timeout, secrets=self._secrets())
        # Outside the `except` block: the SDK exception (with the request and its key
        # header) is neither chained nor kept as context.
        raise error
