"""The route header's seal: an HMAC of this deployment over the header and its task's id.

A route header says which model a task may run on and what it has been through (calls,
cost, escalations, hops); any program that can publish to the broker can write one. What
the router wrote carries `sig`, HMAC-SHA256 (`LLM_ROUTER_HEADER_KEYS`, the first key)
over the header's canonical JSON and the task id: a header copied onto another task, or
edited, or written by anyone without the key, does not verify, and the worker routes
that task afresh. Several keys verify (rotation without downtime). One HMAC per message
on the path users take; pure (no clock, no Celery), so that it is tested on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from workers.execution.route_state import ROUTE_HEADER, BadRouteHeader, RouteState

SIG = "sig"


class UnsealedRouteHeader(BadRouteHeader):
    """A route header not sealed for its task by a key of this deployment."""


def _message(header: dict[str, Any], task_id: str) -> bytes:
    """What is signed: the header without its seal, and the task id, as canonical JSON.
    Raises TypeError/ValueError for what JSON cannot hold (a foreign producer's header)."""
    body = {k: v for k, v in header.items() if k != SIG}
    return json.dumps([task_id, body], sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode()


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal(header: dict[str, Any], task_id: str, key: bytes) -> dict[str, Any]:
    """`header` with its seal (an unsealed copy of `header` is signed)."""
    return {**{k: v for k, v in header.items() if k != SIG},
            SIG: _mac(key, _message(header, task_id))}


def unseal(raw: Any, task_id: str, keys: Sequence[bytes]) -> dict[str, Any] | None:
    """The header `raw` without its seal, if one of `keys` sealed it for `task_id`; None
    if not (unsealed, badly sealed, not an object, not JSON). Never raises."""
    if not isinstance(raw, dict) or not keys:
        return None
    sig = raw.get(SIG)
    if not isinstance(sig, str) or not sig.isascii():
        return None
    try:
        message = _message(raw, task_id)
    except (TypeError, ValueError, RecursionError):
        return None
    if not any(hmac.compare_digest(_mac(key, message), sig) for key in keys):
        return None
    return {k: v for k, v in raw.items() if k != SIG}


def open_route(headers: dict[str, Any] | None, task_id: str, keys: Sequence[bytes], *,
               now: float, max_age: float) -> RouteState | None:
    """The route state a message carries for `task_id` (None: it carries none). A header
    not sealed by one of `keys` for this task raises `UnsealedRouteHeader`; a sealed one
    that is no well-formed state `BadRouteHeader`; what is read is bounded
    (`RouteState.from_headers`). The state a caller gets is the one a key holder wrote."""
    raw = (headers or {}).get(ROUTE_HEADER)
    if raw is None:
        return None
    opened = unseal(raw, task_id, keys)
    if opened is None:
        raise UnsealedRouteHeader("not sealed by this deployment")
    return RouteState.from_headers({ROUTE_HEADER: opened}, now=now, max_age=max_age)
