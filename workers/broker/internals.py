"""The kombu internals this transport relies on (kombu 5.7's Redis transport), listed so
that a kombu which changed them is refused by name instead of failing at the first
Redis restart. `Transport()` checks them once; tests/test_broker_kombu.py checks them,
and those set on instances, on a real channel.

Before widening the kombu pin in pyproject.toml: read kombu/transport/redis.py (QoS,
Channel, MultiChannelPoller) and kombu/transport/virtual/base.py (QoS, Channel.close)
of the new release against workers/broker/qos.py, outage.py and transport.py.
"""

from __future__ import annotations

import importlib
import inspect
from functools import cache
from importlib.metadata import version
from typing import Any, Protocol

import redis

from workers.broker.errors import KombuChangedError

_REDIS = "kombu.transport.redis"
_VIRTUAL = "kombu.transport.virtual.base"

#: (module, class, attribute, parameters this code passes or overrides; None: not called)
CLASS_INTERNALS: tuple[tuple[str, str, str, tuple[str, ...] | None], ...] = (
    (_REDIS, "QoS", "append", ("message", "delivery_tag")),
    (_REDIS, "QoS", "ack", ("delivery_tag",)),
    (_REDIS, "QoS", "reject", ("delivery_tag", "requeue")),
    (_REDIS, "QoS", "restore_unacked", ("client",)),
    (_REDIS, "QoS", "restore_visible", ("start", "num", "interval")),
    (_REDIS, "QoS", "restore_by_tag", ("tag", "client", "leftmost")),
    (_REDIS, "QoS", "_remove_from_indices", ("delivery_tag", "pipe")),
    (_REDIS, "QoS", "pipe_or_acquire", ("pipe", "client")),
    (_VIRTUAL, "QoS", "append", ("message", "delivery_tag")),
    (_VIRTUAL, "QoS", "ack", ("delivery_tag",)),
    (_VIRTUAL, "QoS", "_flush", ()),
    (_VIRTUAL, "QoS", "restore_unacked_once", ()),
    (_VIRTUAL, "QoS", "_delivered", None),
    (_VIRTUAL, "QoS", "_dirty", None),
    (_REDIS, "Channel", "_connparams", ("asynchronous",)),
    (_REDIS, "Channel", "_create_client", ("asynchronous",)),
    (_REDIS, "Channel", "conn_or_acquire", ("client",)),
    (_REDIS, "Channel", "_brpop_read", ()),
    (_REDIS, "Channel", "_in_poll", None),
    (_REDIS, "Channel", "_brpop_start", ("timeout",)),
    (_REDIS, "Channel", "_brpop_sent_at", None),
    (_REDIS, "Channel", "_q_for_pri", ("queue", "pri")),
    (_REDIS, "Channel", "_flush_brpop_reauth", ()),
    (_REDIS, "Channel", "priority_steps", None),
    (_REDIS, "Channel", "sep", None),
    (_REDIS, "Channel", "client", None),
    (_VIRTUAL, "Transport", "_deliver", ("message", "queue")),
    ("kombu.utils.scheduling", "round_robin_cycle", "rotate", ("last_used",)),
    ("kombu.utils.scheduling", "round_robin_cycle", "consume", ("n",)),
    (_REDIS, "Channel", "_do_restore_message",
     ("payload", "exchange", "routing_key", "pipe", "leftmost")),
    (_REDIS, "Channel", "basic_consume", ("queue",)),
    (_REDIS, "Channel", "close", ()),
    (_REDIS, "Channel", "pool", None),
    (_REDIS, "Channel", "from_transport_options", None),
    (_REDIS, "Channel", "unacked_key", None),
    (_REDIS, "Channel", "unacked_index_key", None),
    (_REDIS, "Channel", "unacked_restore_interval", None),
    (_REDIS, "Channel", "global_keyprefix", None),
    (_VIRTUAL, "Channel", "basic_consume", ("queue", "no_ack", "callback", "consumer_tag")),
    (_VIRTUAL, "Channel", "state", None),
    (_REDIS, "MultiChannelPoller", "maybe_restore_messages", ()),
    ("kombu.connection", "Connection", "resolve_aliases", None),
)

#: Attributes set in `__init__`, checked on live objects by the tests.
INSTANCE_INTERNALS: dict[str, tuple[str, ...]] = {
    "Channel": ("Client", "connection_errors", "auto_delete_queues", "connection", "closed",
                "_queue_cycle", "_active_queues"),
    "Message": ("_raw", "delivery_info", "delivery_tag"),
}


class Message(Protocol):
    """kombu's virtual `Message`, as received by `QoS.append`."""

    delivery_tag: str
    delivery_info: dict[str, Any]
    _raw: dict[str, Any]


class RedisChannelInternals(Protocol):
    """Private members of kombu's Redis `Channel` (absent from its type stubs)."""

    _in_poll: Any

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]: ...

    def _create_client(self, asynchronous: bool = False) -> redis.Redis: ...

    def _brpop_read(self, **options: Any) -> bool: ...

    _brpop_sent_at: float | None
    _queue_cycle: Any
    _active_queues: list[str]
    priority_steps: list[int]
    sep: str
    client: Any

    def _q_for_pri(self, queue: str, pri: int) -> str: ...

    def _flush_brpop_reauth(self) -> None: ...


class VirtualQoSInternals(Protocol):
    """Private members of kombu's virtual `QoS` (absent from its type stubs)."""

    def _flush(self) -> None: ...


def _problem(module: str, cls: str, attr: str, params: tuple[str, ...] | None) -> str | None:
    where = f"{module}.{cls}.{attr}"
    owner = getattr(importlib.import_module(module), cls, None)
    if owner is None:
        return f"{module}.{cls} is gone"
    if not hasattr(owner, attr):
        return f"{where} is gone"
    if not params:
        return None
    value = inspect.getattr_static(owner, attr)
    target = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
    try:
        names = set(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return f"{where} is no longer a function"
    lost = [p for p in params if p not in names]
    return f"{where} lost its parameter(s) {', '.join(lost)}" if lost else None


def class_problems() -> list[str]:
    """What changed among CLASS_INTERNALS (empty: nothing)."""
    found = (_problem(*entry) for entry in CLASS_INTERNALS)
    return [p for p in found if p is not None]


def instance_problems(kind: str, obj: object) -> list[str]:
    return [f"{type(obj).__module__}.{type(obj).__name__} instances lack `{name}`"
            for name in INSTANCE_INTERNALS[kind] if not hasattr(obj, name)]


def refusal(problems: list[str]) -> str:
    return (f"kombu {version('kombu')} changed what workers/broker relies on: "
            f"{'; '.join(problems)}. Re-check workers/broker (qos.py, outage.py, "
            f"transport.py) against this kombu's transport/redis.py and "
            f"transport/virtual/base.py, or install the kombu pyproject.toml pins")


@cache
def require() -> None:
    """Refuse a kombu whose internals changed (checked once per process)."""
    problems = class_problems()
    if problems:
        raise KombuChangedError(refusal(problems))
