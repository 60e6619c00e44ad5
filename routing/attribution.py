"""Attribution: who asked for a call (`agent`), for what piece of work (`run_id`), with a
few `tags` (key=value), and the caps a sender may put on its run.

Given as task kwargs (`agent`, `run_id`, `tags`, `run_max_usd`, `run_max_calls`) or as
Celery message headers (`llm_agent`, `llm_run_id`, `llm_tags`, `llm_run_max_usd`,
`llm_run_max_calls`: a foreign app sets them once per message, and
`workers.attribution.attributed` stamps them on every task sent within it); kwargs win.
Every value is validated here, with the field's path in the error, so that nothing
unbounded or unprintable reaches Redis keys, the ledger or metrics. Pure: no Redis, no
Celery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from routing.attribution_names import AGENT_MAX, RUN_ID_MAX, check_name
from routing.errors import AttributionError
from routing.money import usd_to_micros

#: Task kwargs of attribution (removed before a task's own input is validated).
KWARGS = ("agent", "run_id", "tags", "run_max_usd", "run_max_calls")
#: The Celery message header of each kwarg.
HEADERS = {name: f"llm_{name}" for name in KWARGS}

TAGS_MAX = 8
TAG_KEY_MAX = 32
TAG_VALUE_MAX = 64
RUN_MAX_CALLS = 1_000_000
RUN_MAX_USD = 1_000_000.0


@dataclass(frozen=True, slots=True)
class RunCap:
    """A run's cap: at most `max_micros` spent and `max_calls` calls (None: no limit)."""

    max_micros: int | None = None
    max_calls: int | None = None

    def __bool__(self) -> bool:
        return self.max_micros is not None or self.max_calls is not None


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who a call is for. Empty fields: not attributed (counted as no agent, no run)."""

    agent: str = ""
    run_id: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    cap: RunCap = RunCap()  # given by the sender (the config's per-agent cap otherwise)

    def __bool__(self) -> bool:
        return bool(self.agent or self.run_id or self.tags)

    @property
    def tags_text(self) -> str:
        """`k=v k=v` (what the Lua scripts take)."""
        return " ".join(f"{k}={v}" for k, v in self.tags)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.agent:
            out["agent"] = self.agent
        if self.run_id:
            out["run_id"] = self.run_id
        if self.tags:
            out["tags"] = dict(self.tags)
        return out

    def headers(self) -> dict[str, str]:
        """This attribution as Celery headers (for `apply_async(headers=...)`)."""
        out = {}
        if self.agent:
            out[HEADERS["agent"]] = self.agent
        if self.run_id:
            out[HEADERS["run_id"]] = self.run_id
        if self.tags:
            out[HEADERS["tags"]] = self.tags_text
        if self.cap.max_micros is not None:
            out[HEADERS["run_max_usd"]] = f"{self.cap.max_micros / 1_000_000:.6f}"
        if self.cap.max_calls is not None:
            out[HEADERS["run_max_calls"]] = str(self.cap.max_calls)
        return out


def split(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the task's own kwargs, its attribution kwargs)."""
    own = {k: v for k, v in kwargs.items() if k not in KWARGS}
    return own, {k: kwargs[k] for k in KWARGS if k in kwargs}


def parse(kwargs: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> Attribution:
    """The attribution of a task from its kwargs, else its headers; `AttributionError`
    (naming the kwarg, or `headers.llm_...`) when a value is malformed."""
    values: dict[str, tuple[str, Any]] = {}
    for name in KWARGS:
        if kwargs.get(name) is not None:
            values[name] = (name, kwargs[name])
        elif headers and headers.get(HEADERS[name]) is not None:
            values[name] = (f"headers.{HEADERS[name]}", headers[HEADERS[name]])
    agent = check_name(*values["agent"], AGENT_MAX) if "agent" in values else ""
    run_id = check_name(*values["run_id"], RUN_ID_MAX) if "run_id" in values else ""
    tags = _tags(*values["tags"]) if "tags" in values else ()
    max_usd = _usd(*values["run_max_usd"]) if "run_max_usd" in values else None
    max_calls = _calls(*values["run_max_calls"]) if "run_max_calls" in values else None
    cap = RunCap(max_usd, max_calls)
    if cap and not run_id:
        path = values["run_max_usd" if max_usd is not None else "run_max_calls"][0]
        raise AttributionError(path, "a run cap needs a `run_id` (the run it caps)")
    return Attribution(agent, run_id, tags, cap)


def _tags(path: str, value: Any) -> tuple[tuple[str, str], ...]:
    """A dict {key: value}, a list of 'k=v', or one string 'k=v k=v' (a header)."""
    pairs: list[tuple[str, Any]]
    if isinstance(value, str):
        items = value.replace(",", " ").split()
        pairs = []
        for i, item in enumerate(items):
            if "=" not in item:
                raise AttributionError(f"{path}[{i}]", f"expected key=value, got {item[:80]!r}")
            k, v = item.split("=", 1)
            pairs.append((k, v))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list | tuple):
        pairs = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or "=" not in item:
                raise AttributionError(f"{path}[{i}]", f"expected 'key=value', got {item!r:.80}")
            k, v = item.split("=", 1)
            pairs.append((k, v))
    else:
        raise AttributionError(path, "expected {key: value, ...} (or 'k=v k=v'), got "
                               f"{type(value).__name__}")
    if len(pairs) > TAGS_MAX:
        raise AttributionError(path, f"at most {TAGS_MAX} tags, got {len(pairs)}")
    out: dict[str, str] = {}
    for k, v in pairs:
        key = check_name(f"{path} (key)", k, TAG_KEY_MAX)
        out[key] = check_name(f"{path}.{key}", v, TAG_VALUE_MAX)
    return tuple(sorted(out.items()))


def _usd(path: str, value: Any) -> int:
    bad = AttributionError(path, f"must be a USD amount in (0, {RUN_MAX_USD:.0f}], got "
                           f"{value!r:.40}")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise bad
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise bad from None
    if not amount.is_finite() or not 0 < amount <= RUN_MAX_USD:
        raise bad
    return max(1, usd_to_micros(amount))


def _calls(path: str, value: Any) -> int:
    try:
        count = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        count = None
    if count is None or not 1 <= count <= RUN_MAX_CALLS:
        raise AttributionError(path, f"must be a whole number of calls in [1, {RUN_MAX_CALLS}],"
                               f" got {value!r:.40}")
    return count
