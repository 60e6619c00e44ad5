"""Classification of provider failures: retry-after parsing, status mapping, redaction."""

from __future__ import annotations

import email.utils

import pytest

from workers.providers.errors import (
    OverloadedError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from workers.providers.failures import from_status, parse_retry_after, redact


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "3"}, 3.0),
    ({"Retry-After": "0.5"}, 0.5),
    ({"retry-after-ms": "1200", "retry-after": "9"}, 1.2),
    ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
    ({"retry-after": "-1"}, None),
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(42)
    past = email.utils.formatdate(now - 42, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0


@pytest.mark.parametrize(("status", "error_type", "message", "kind"), [
    (429, "rate_limit_error", "slow down", RateLimitedError),
    (529, "overloaded_error", "Overloaded", OverloadedError),
    (503, "api_error", "The model is overloaded", OverloadedError),
    (503, "api_error", "unavailable", TransientError),
    (500, None, "", TransientError),
    (502, None, "", TransientError),
    (408, None, "", TransientError),
    (400, "invalid_request_error", "bad", PermanentError),
    (402, None, "", PermanentError),
    (413, "request_too_large", "", PermanentError),
    (400, None, "input is too long for requested model", PermanentError),
])
def test_status_mapping(status: int, error_type: str | None, message: str,
                        kind: type[ProviderError]) -> None:
    err = from_status("anthropic", status, headers={}, error_type=error_type, message=message,
                      request_id="req_1")
    assert type(err) is kind and err.status == status and err.request_id == "req_1"


def test_redact_removes_keys_and_fragments() -> None:
    key = "sk-live-a1b2c3d4e5f6g7h8"
    text = f"bad key {key}; provided: sk-live-a1b2****g7h8, code 401"
    out = redact(text, [key])
    assert key not in out and "sk-live-a1b2" not in out and "code 401" in out
    assert redact("nothing secret", []) == "nothing secret"
