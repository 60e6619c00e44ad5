"""The provider batch interface: submit many completion requests at once, poll, read results.

A `BatchAPI` (Anthropic Message Batches, the OpenAI Batch API, the simulated one) takes
`BatchItem`s (a custom id and a `CompletionRequest`) in two steps, `prepare` (OpenAI
uploads the JSONL file; a step of its own so a resumed submission never uploads twice)
and `create`; `status` says whether the provider is done, and `results` gives one
`ItemResult` per request it answered: a `Completion`, a `ProviderError` (classified as a
direct call's would be), or `unprocessed` (expired, canceled, failed).

A create whose answer is lost (a timeout) may still have been accepted: `find` looks the
submission up among the provider's batches (OpenAI: by the label sent as the batch's
metadata; Anthropic, which has no metadata: by the number of requests and the creation
time, and by the requests' custom ids once the batch is over), `listing` pages through
the provider's recent batches (for `llm-router batches list`), `cancel` stops one.

Requests and outcomes are stored in Redis between those steps as JSON
(`request_json`/`request_from_json`, `outcome_json`/`read_outcome`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from routing.prices.pricing import Usage
from workers.contract import Message, OutputSchema
from workers.providers import errors as provider_errors
from workers.providers.base import Completion, CompletionRequest
from workers.providers.errors import ProviderError
from workers.turns import ToolCall, Turn

Unprocessed = Literal["expired", "canceled", "failed"]


@dataclass(frozen=True, slots=True)
class BatchItem:
    custom_id: str
    request: CompletionRequest


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """A provider batch as last seen. `unfinished` is what a request without a result
    became (`expired` when the batch's 24 hours ran out, `failed` when the whole batch
    was refused, with `reason`)."""

    id: str
    ended: bool
    detail: str  # the provider's own status and counts, for the log
    unfinished: Unprocessed = "failed"
    reason: str = ""
    files: tuple[str, ...] = ()  # where the results are (OpenAI: output and error files)


@dataclass(frozen=True, slots=True)
class ItemResult:
    custom_id: str
    completion: Completion | None = None
    error: ProviderError | None = None
    unprocessed: Unprocessed | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProviderBatch:
    """A batch as the provider lists it."""

    id: str
    created: float  # unix seconds, by the provider's clock
    status: str  # the provider's own word
    requests: int
    ended: bool
    label: str | None = None  # the llm-router label it carries (OpenAI metadata)


class BatchAPI(Protocol):
    name: str

    def prepare(self, items: Sequence[BatchItem], *, label: str) -> str | None:
        """What must exist before the batch (OpenAI: the uploaded file's id), or None."""
        ...

    def create(self, items: Sequence[BatchItem], prepared: str | None, *, label: str) -> str:
        """Submit the batch; its provider id. Raises a `ProviderError` on failure."""
        ...

    def status(self, batch_id: str) -> BatchStatus: ...

    def results(self, status: BatchStatus, items: Sequence[BatchItem]) -> Iterator[ItemResult]:
        """One result per request the provider has a line for (any order)."""
        ...

    def listing(self, since: float) -> Iterator[ProviderBatch]:
        """The provider's batches created at `since` (unix seconds) or later, newest first,
        every page of them."""
        ...

    def find(self, items: Sequence[BatchItem], label: str, since: float) -> list[str]:
        """The ids of the provider's batches created since `since` that are this
        submission (`items`, sent with `label`), oldest first."""
        ...

    def cancel(self, batch_id: str) -> None: ...


# -- stored forms ------------------------------------------------------------------------

def request_json(request: CompletionRequest) -> dict[str, Any]:
    """A request as JSON: an agent turn (blocks, tools) keeps its neutral form (`turn`)."""
    data: dict[str, Any] = {
        "model": request.model, "max_tokens": request.max_tokens,
        "messages": [[m.role, m.content] for m in request.messages],
        "system": request.system, "cache_system": request.cache_system,
        "output": None if request.output is None else
        {"name": request.output.name, "schema": request.output.schema}}
    if request.tools or any(m.blocks for m in request.messages):
        data["turn"] = Turn(request.messages, request.tools, request.tool_choice).to_dict()
    return data


def request_from_json(data: dict[str, Any]) -> CompletionRequest:
    turn = Turn.from_dict(data["turn"]) if data.get("turn") else None
    return CompletionRequest(
        model=str(data["model"]), max_tokens=int(data["max_tokens"]),
        messages=turn.messages if turn is not None else
        tuple(Message(role, content) for role, content in data["messages"]),
        system=data.get("system"), cache_system=bool(data.get("cache_system")),
        output=_output(data.get("output")),
        tools=turn.tools if turn is not None else (),
        tool_choice=turn.tool_choice if turn is not None else None,
    )


def _output(data: Any) -> OutputSchema | None:
    if not isinstance(data, dict):
        return None
    return OutputSchema(str(data["name"]), dict(data["schema"]))


def outcome_json(result: ItemResult, batch_id: str, latency_s: float) -> dict[str, Any]:
    """What a task's record keeps of its result (the provider's batch id included)."""
    if result.completion is not None:
        c = result.completion
        return {"kind": "ok", "batch_id": batch_id, "text": c.text,
                "usage": c.usage.as_dict(), "model": c.model, "request_id": c.request_id,
                "stop_reason": c.stop_reason, "mode": c.mode, "latency_s": latency_s,
                **({"tool_calls": [t.to_dict() for t in c.tool_calls]} if c.tool_calls else {})}
    if result.error is not None:
        e = result.error
        return {"kind": "error", "batch_id": batch_id, "class": type(e).__name__,
                "message": str(e), "provider": e.provider, "status": e.status,
                "request_id": e.request_id,
                "retry_after": getattr(e, "retry_after", None)}
    return {"kind": result.unprocessed or "failed", "batch_id": batch_id,
            "reason": result.reason}


_ERRORS: dict[str, type[ProviderError]] = {
    cls.__name__: cls for cls in (
        provider_errors.RateLimitedError, provider_errors.OverloadedError,
        provider_errors.TransientError, provider_errors.PermanentError)
}


def read_outcome(data: dict[str, Any]) -> Completion | ProviderError | tuple[Unprocessed, str]:
    """A stored outcome: the completion, the error a direct call would have raised, or
    (`expired` | `canceled` | `failed`, why)."""
    kind = data.get("kind")
    if kind == "ok":
        return Completion(
            text=str(data.get("text") or ""), usage=Usage.from_dict(data.get("usage") or {}),
            model=str(data.get("model") or ""), request_id=data.get("request_id"),
            latency_s=float(data.get("latency_s") or 0.0), mode=data.get("mode") or "live",
            stop_reason=data.get("stop_reason"),
            tool_calls=tuple(ToolCall(str(t["id"]), str(t["name"]), dict(t["arguments"]))
                             for t in data.get("tool_calls") or ()),
        )
    if kind == "error":
        cls = _ERRORS.get(str(data.get("class")), provider_errors.TransientError)
        message, provider = str(data.get("message")), str(data.get("provider") or "")
        status, request_id = data.get("status"), data.get("request_id")
        if cls is provider_errors.RateLimitedError:
            return provider_errors.RateLimitedError(
                message, retry_after=data.get("retry_after"), provider=provider,
                status=status, request_id=request_id)
        return cls(message, provider=provider, status=status, request_id=request_id)
    if kind in ("expired", "canceled"):
        return kind, str(data.get("reason") or "")
    return "failed", str(data.get("reason") or "")
