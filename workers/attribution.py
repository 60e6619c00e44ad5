"""Attribution across Celery: the producer's `attributed(...)` block, and the run kept by
every task sent from inside an attributed task (chains, groups, chords, hops, trials).

- `attributed(agent=..., run_id=..., tags=..., run_max_usd=..., run_max_calls=...)`: a
  context manager for a producer's own code; every task message published within it (by
  `delay`, `apply_async`, `send_task`, a chain, group or chord) carries the attribution
  as headers (`llm_agent`, `llm_run_id`, ...), unless the message sets them itself.
- On a worker, a task whose message (kwargs or headers) is attributed runs inside that
  attribution: whatever it publishes (the next task of its chain, a chord's callback, a
  re-published hop, a shadow trial) carries it on. A message's own headers always win.

Both are Celery signals (`before_task_publish`, `task_prerun`, `task_postrun`), connected
once by `connect()` (the app does it); the state is a context variable, so threads of a
threads-pool worker each keep their own.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from celery import signals

from routing.attribution import HEADERS, Attribution, parse
from routing.errors import AttributionError

log = logging.getLogger(__name__)

_current: contextvars.ContextVar[Attribution | None] = contextvars.ContextVar(
    "llm_router_attribution", default=None)
_tokens: dict[str, contextvars.Token[Attribution | None]] = {}
_connected = False


def current() -> Attribution | None:
    """The attribution in force here (a producer's block, or the running task's)."""
    return _current.get()


@contextmanager
def attributed(*, agent: str | None = None, run_id: str | None = None,
               tags: Mapping[str, str] | None = None, run_max_usd: float | str | None = None,
               run_max_calls: int | None = None) -> Iterator[Attribution]:
    """Stamp every task sent within the block with this attribution (validated now:
    `AttributionError` names the bad argument). Nested blocks fill in what the inner one
    leaves out (e.g. an agent inside a run)."""
    given = {"agent": agent, "run_id": run_id, "tags": dict(tags) if tags else None,
             "run_max_usd": run_max_usd, "run_max_calls": run_max_calls}
    outer = _current.get()
    if outer is not None:
        given = {**{k: v for k, v in _as_kwargs(outer).items()}, **{k: v for k, v in
                 given.items() if v is not None}}
    who = parse(given)
    token = _current.set(who)
    try:
        yield who
    finally:
        _current.reset(token)


def _as_kwargs(who: Attribution) -> dict[str, Any]:
    out: dict[str, Any] = {"agent": who.agent or None, "run_id": who.run_id or None,
                           "tags": dict(who.tags) or None}
    if who.cap.max_micros is not None:
        out["run_max_usd"] = f"{who.cap.max_micros / 1_000_000:.6f}"
    if who.cap.max_calls is not None:
        out["run_max_calls"] = who.cap.max_calls
    return out


def _stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: add the attribution in force to the message's headers (never
    over what the message says itself)."""
    who = _current.get()
    if who is None or headers is None:
        return
    if any(name in headers for name in HEADERS.values()):
        return  # the message is attributed already (kwargs are checked by the task)
    headers.update(who.headers())


def _enter(task_id: str | None = None, task: Any = None, kwargs: Any = None, **_: Any) -> None:
    """task_prerun: run inside the task's attribution (a malformed one is the task's to
    refuse: nothing is propagated then)."""
    if task is None or task_id is None:
        return
    request = task.request
    headers = _headers_of(request)
    try:
        who = parse(kwargs if isinstance(kwargs, dict) else {}, headers)
    except AttributionError:
        return
    if who:
        _tokens[task_id] = _current.set(who)


def _leave(task_id: str | None = None, **_: Any) -> None:
    token = _tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # set in another context (cannot happen on one thread)
            _current.set(None)


def _headers_of(request: Any) -> dict[str, Any]:
    """The message's attribution headers: Celery keeps custom headers in
    `request.headers` or, depending on the protocol, as request attributes."""
    found: dict[str, Any] = {}
    headers = getattr(request, "headers", None) or {}
    for name in HEADERS.values():
        value = headers.get(name) if isinstance(headers, dict) else None
        if value is None:
            value = getattr(request, name, None)
        if value is not None:
            found[name] = value
    return found


def task_attribution(request: Any, kwargs: Mapping[str, Any]) -> Attribution:
    """The attribution of the running task: its kwargs, else its message headers
    (`AttributionError` names the bad field)."""
    return parse(kwargs, _headers_of(request))


def connect() -> None:
    """Connect the signals (once per process)."""
    global _connected
    if _connected:
        return
    signals.before_task_publish.connect(_stamp, weak=False)
    signals.task_prerun.connect(_enter, weak=False)
    signals.task_postrun.connect(_leave, weak=False)
    _connected = True


def attribution_of(task: Any, spec: Any, kwargs: Mapping[str, Any]) -> Attribution:
    """The running task's attribution, or `TaskInputError` naming the bad field (nothing
    is called or charged then)."""
    from workers.errors import TaskInputError

    try:
        return task_attribution(task.request, kwargs)
    except AttributionError as exc:
        raise TaskInputError(f"{spec.name}: {exc}") from None
