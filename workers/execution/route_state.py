"""The routing state a task carries in its message header, across retries and hops.

The producer's router writes it (model, tier, queue, config version); every retry,
fallback, escalation, deferral or forward re-publishes the same task id with an updated
copy, so that the final result can say how many calls were made, what they cost, and
which models were left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from routing.router import Decision

ROUTE_HEADER = "llmr_route"
# Tuple fields, carried as JSON lists in the header.
_SEQUENCES = ("fallback_from", "escalated_from", "tried", "hops")
HOP_REASON_CHARS = 300
# A task keeps its latest hops only (a legitimate task makes a handful: its fallbacks,
# at most 5 escalations, a re-route or two); what is read from a header is cut to these.
MAX_HOPS = 32
_HOP_FIELDS = ("kind", "from", "to", "reason")


def _routed(decision: Decision) -> dict[str, Any]:
    """The fields of a state that a routing decision sets."""
    return {
        "route_key": decision.model_key,
        "model": decision.model,
        "tier": decision.tier,
        "queue": decision.queue,
        "rule": decision.rule,
        "config_version": decision.config_version,
    }


class BadRouteHeader(ValueError):
    """A message's route header is not a well-formed route state."""


_TEXT = ("model_key", "route_key", "model", "tier", "queue", "rule")
# integer field -> its largest sane value
_COUNTS = {"config_version": 10**9, "attempt": 1000, "calls": 10_000,
           "cost_micros": 10**12, "deferrals": 10_000}
_MAX_LIST = 100  # entries of a list field (fallback_from, ..., hops) a header may hold


def _name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def _problem(raw: dict[str, Any]) -> str | None:
    """Why `raw` is not a route state (None: it is one). Plain checks: this runs per task."""
    for name in _TEXT:
        if not _name(raw.get(name)):
            return f"{name}: expected a name, got {raw.get(name)!r:.80}"
    for name, most in _COUNTS.items():
        value = raw.get(name, 0)
        if type(value) is not int or not 0 <= value <= most:
            return f"{name}: expected an integer in [0, {most}], got {value!r:.80}"
    for name in ("fallback_from", "escalated_from", "tried"):
        value = raw.get(name) or []
        if not isinstance(value, list | tuple) or len(value) > _MAX_LIST or not all(
                _name(v) for v in value):
            return f"{name}: expected a list of names, got {value!r:.80}"
    hops = raw.get("hops") or []
    if not isinstance(hops, list | tuple) or len(hops) > _MAX_LIST or not all(
            isinstance(h, dict) and all(isinstance(v, str) for v in h.values()) for h in hops):
        return f"hops: expected a list of objects of strings, got {hops!r:.80}"
    if type(raw.get("rerouted", False)) is not bool:
        return f"rerouted: expected true or false, got {raw.get('rerouted')!r:.80}"
    downgraded = raw.get("downgraded_from")
    if downgraded is not None and not _name(downgraded):
        return f"downgraded_from: expected a name, got {downgraded!r:.80}"
    sent_at = raw.get("sent_at", 0.0)
    if type(sent_at) not in (int, float) or not 0 <= sent_at < 1e11:
        return f"sent_at: expected unix seconds, got {sent_at!r:.80}"
    return None


def _bounded_hop(hop: dict[str, str]) -> dict[str, str]:
    """A hop as read: its four fields only, names and reason cut to their bounds."""
    return {name: hop.get(name, "")[:HOP_REASON_CHARS if name == "reason" else 200]
            for name in _HOP_FIELDS}


@dataclass(frozen=True)
class RouteState:
    model_key: str  # what the caller asked for (ledger and result are under this key)
    route_key: str  # whose routing applies now (differs after an escalation)
    model: str
    tier: str
    queue: str
    rule: str
    config_version: int
    attempt: int = 0  # failed attempts on the current model
    calls: int = 0  # provider calls made so far, all models
    cost_micros: int = 0
    fallback_from: tuple[str, ...] = ()
    escalated_from: tuple[str, ...] = ()
    rerouted: bool = False
    deferrals: int = 0
    downgraded_from: str | None = None
    tried: tuple[str, ...] = field(default=())
    # When the task was sent (routed at send time) or first arrived (sent by name), in
    # unix seconds: its end-to-end time is measured from there.
    sent_at: float = 0.0
    # Each move to another model: {"kind", "from", "to", "reason"}.
    hops: tuple[dict[str, str], ...] = ()

    @classmethod
    def initial(cls, decision: Decision, sent_at: float = 0.0) -> RouteState:
        return cls(model_key=decision.model_key, sent_at=sent_at, hops=decision.skip_hops(),
                   **_routed(decision))

    @classmethod
    def from_headers(cls, headers: dict[str, Any] | None, *, now: float | None = None,
                     max_age: float = 0.0) -> RouteState | None:
        """The state a message carries; None when it carries none. A header that is not a
        well-formed state (any producer can write one) raises `BadRouteHeader`.

        What is read is bounded: the latest `MAX_HOPS` hops, each reason cut to
        `HOP_REASON_CHARS`; with `now`, `sent_at` within [now - max_age, now] (a clock
        ahead, or a forgotten task, never puts a day, or 57 years, into the histograms)."""
        raw = (headers or {}).get(ROUTE_HEADER)
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise BadRouteHeader(f"not an object but {type(raw).__name__}")
        problem = _problem(raw)
        if problem:
            raise BadRouteHeader(problem)
        data = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        for name in _SEQUENCES:
            data[name] = tuple(data.get(name) or ())
        data["hops"] = tuple(_bounded_hop(h) for h in data["hops"][-MAX_HOPS:])
        if now is not None and data.get("sent_at"):
            data["sent_at"] = min(max(float(data["sent_at"]), now - max_age), now)
        return cls(**data)

    def header(self) -> dict[str, Any]:
        # A flat copy (not `asdict`, which deep-copies recursively: 10x slower per publish).
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in _SEQUENCES:
            out[name] = list(out[name])
        return out

    def moved_to(self, decision: Decision, **changes: Any) -> RouteState:
        """The same task, now on `decision`'s model (a fallback, escalation, re-route)."""
        return replace(self, attempt=0, **_routed(decision), **changes)

    def hopped(self, kind: str, origin: RouteState, reason: str) -> RouteState:
        """This state with the move from `origin`'s model recorded in `hops`."""
        hop = {"kind": kind, "from": origin.model, "to": self.model,
               "reason": reason[:HOP_REASON_CHARS]}
        return replace(self, hops=(*origin.hops, hop)[-MAX_HOPS:])

    def with_hops(self, hops: tuple[dict[str, str], ...]) -> RouteState:
        """This state with `hops` (e.g. a decision's skips) recorded after its own."""
        if not hops:
            return self
        return replace(self, hops=(*self.hops, *hops)[-MAX_HOPS:])

    def after_call(self, cost_micros: int, *, failed: bool) -> RouteState:
        return replace(
            self,
            calls=self.calls + 1,
            cost_micros=self.cost_micros + cost_micros,
            attempt=self.attempt + 1 if failed else self.attempt,
        )
