"""Turn an HTTP failure of any provider into the error taxonomy of `errors.py`.

Both SDK adapters extract what they know (status, headers, the error body's `type` and
message, the request id) and call `from_status`; timeouts and connection failures go
through `transient`. The SDK exception itself is never chained: it carries the request
(and so the `Authorization` header with the key), so adapters raise the result outside
their `except` block. Every message passes through `redact`.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from workers.providers.errors import (
    OverloadedError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)

_MAX_MESSAGE = 500
_REDACTED = "[redacted]"
_CONTEXT_TOO_LONG = re.compile(
    r"context[ _-]?length|context window|prompt is too long|too many (input )?tokens"
    r"|maximum context|input is too long|exceeds the context",
    re.IGNORECASE,
)
_PERMANENT = frozenset({400, 401, 402, 403, 404, 405, 409, 410, 411, 412, 413, 415, 422, 431})
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{6,}")


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` without any secret, nor any run of 6+ key characters taken from a secret.

    Some providers echo part of a wrong key in a 401 message ("sk-abc...xyz"); fragments
    are removed too.
    """
    keys = [s for s in secrets if s]
    for secret in keys:
        text = text.replace(secret, _REDACTED)

    def scrub(match: re.Match[str]) -> str:
        word = match.group(0)
        return _REDACTED if any(word in secret for secret in keys) else word

    return _TOKEN.sub(scrub, text) if keys else text


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms` (preferred) or `retry-after` (seconds or date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, seconds)
    return seconds if seconds >= 0 else None


def _is_overloaded(status: int, error_type: str | None, message: str) -> bool:
    if status == 529 or (error_type or "").lower() == "overloaded_error":
        return True
    return status == 503 and "overloaded" in f"{error_type} {message}".lower()


def from_status(
    provider: str,
    status: int,
    *,
    headers: Mapping[str, str],
    error_type: str | None,
    message: str | None,
    request_id: str | None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """The taxonomy error for an HTTP error response of `provider`."""
    detail = redact((message or "").strip(), secrets)[:_MAX_MESSAGE]
    kind = f" {error_type}" if error_type else ""
    text = f"{provider} HTTP {status}{kind}: {detail or 'no message'}"
    if status == 429:
        retry_after = parse_retry_after(headers)
        when = f" (retry after {retry_after:g}s)" if retry_after is not None else ""
        return RateLimitedError(
            text + when, retry_after=retry_after, provider=provider, status=status,
            request_id=request_id,
        )
    cls: type[ProviderError] = TransientError
    if _is_overloaded(status, error_type, detail):
        cls = OverloadedError
    elif _CONTEXT_TOO_LONG.search(detail) and 400 <= status < 500:
        cls, text = PermanentError, f"context too long: {text}"
    elif status in _PERMANENT or (400 <= status < 500 and status not in (408, 425, 499)):
        cls = PermanentError
    return cls(text, provider=provider, status=status, request_id=request_id)


def transient(provider: str, what: str, *, secrets: Iterable[str] = ()) -> TransientError:
    """A timeout or connection failure (no HTTP response)."""
    return TransientError(f"{provider}: {redact(what, secrets)[:_MAX_MESSAGE]}", provider=provider)


@dataclass(frozen=True)
class SDKErrors:
    """An SDK's exceptions for failures without an HTTP status (both official SDKs have
    the same hierarchy: timeout < connection < API error < the SDK's root error)."""

    timeout: type[Exception]
    connection: type[Exception]
    api: type[Exception]


def from_client_error(
    provider: str, exc: Exception, sdk: SDKErrors, *, timeout: float, secrets: Iterable[str]
) -> ProviderError:
    """A timeout, connection failure, unreadable response or client-side error."""
    detail = str(getattr(exc, "message", exc))
    if isinstance(exc, sdk.timeout):
        return transient(provider, f"request timed out after {timeout:g}s")
    if isinstance(exc, sdk.connection):
        return transient(provider, f"connection error: {detail}", secrets=secrets)
    if isinstance(exc, sdk.api):
        return transient(provider, f"invalid response: {detail}", secrets=secrets)
    return PermanentError(redact(f"{provider} client error: {exc}", secrets), provider=provider)
