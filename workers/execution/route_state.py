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
        return cls(model_key=decision.model_key, sent_at=sent_at, **_routed(decision))

    @classmethod
    def from_headers(cls, headers: dict[str, Any] | None) -> RouteState | None:
        raw = (headers or {}).get(ROUTE_HEADER)
        if not isinstance(raw, dict):
            return None
        data = dict(raw)
        for name in _SEQUENCES:
            data[name] = tuple(data.get(name) or ())
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

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
        return replace(self, hops=(*origin.hops, hop))

    def after_call(self, cost_micros: int, *, failed: bool) -> RouteState:
        return replace(
            self,
            calls=self.calls + 1,
            cost_micros=self.cost_micros + cost_micros,
            attempt=self.attempt + 1 if failed else self.attempt,
        )
