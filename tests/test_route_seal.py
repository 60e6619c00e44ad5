"""The route header's seal, on its own: any header (random, or a sealed one mangled) is
either the one a key holder sealed for that task, or refused; reading never raises
anything else, and never yields an escalation nobody sealed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.properties import bounded
from workers.execution.route_seal import UnsealedRouteHeader, open_route, seal, unseal
from workers.execution.route_state import (
    HOP_REASON_CHARS,
    MAX_HOPS,
    ROUTE_HEADER,
    BadRouteHeader,
    RouteState,
)

KEY, OLD, NEW = b"k" * 32, b"o" * 32, b"n" * 32
NOW, MAX_AGE = 1_800_000_000.0, 86_400.0
STATE = {"model_key": "lookup", "route_key": "lookup", "model": "m", "tier": "haiku",
         "queue": "llm.haiku", "rule": "default", "config_version": 3, "calls": 1,
         "cost_micros": 12, "sent_at": NOW - 5, "hops": [], "escalated_from": []}

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**13, 10**13),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                     st.binary(max_size=5))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10)
_FIELDS = st.sampled_from([*RouteState.__dataclass_fields__, "sig", "extra"])


def _open(raw: Any, task_id: str = "t1", keys: tuple[bytes, ...] = (KEY,)) -> Any:
    return open_route({ROUTE_HEADER: raw}, task_id, keys, now=NOW, max_age=MAX_AGE)


@bounded(300)
@given(raw=_VALUES)
def test_any_header_is_refused_and_never_raises_anything_else(raw: Any) -> None:
    if raw is None:  # no header at all: sent by name
        assert _open(raw) is None
        return
    with pytest.raises(UnsealedRouteHeader):
        _open(raw)


@bounded(300)
@given(changes=st.dictionaries(_FIELDS, _VALUES, min_size=1, max_size=4),
       task_id=st.sampled_from(["t1", "t2"]))
def test_a_mangled_sealed_header_is_refused_never_honoured(
    changes: dict[str, Any], task_id: str
) -> None:
    # Given a header the router sealed for task t1, then changed by anyone without the key
    sealed = seal(STATE, "t1", KEY)
    mangled = {**sealed, **changes}
    try:
        state = _open(mangled, task_id)
    except BadRouteHeader:
        return  # refused: the task is routed afresh, with nothing of the header
    # Then it is honoured only if nothing that was signed changed (same task, same fields)
    assert task_id == "t1"
    assert {k: v for k, v in mangled.items() if k != "sig"} == STATE
    assert state is not None and state.escalated_from == ()


def test_no_header_is_no_state_and_a_sealed_one_is_read() -> None:
    assert open_route({}, "t1", (KEY,), now=NOW, max_age=MAX_AGE) is None
    state = _open(seal(STATE, "t1", KEY))
    assert state is not None and (state.calls, state.cost_micros) == (1, 12)
    assert unseal(seal(STATE, "t1", KEY), "t1", ()) is None  # no key: nothing verifies


def test_rotation_every_phase_verifies_its_neighbours() -> None:
    # Rotation: add the new key last everywhere, make it first everywhere, drop the old.
    phases = [(OLD,), (OLD, NEW), (NEW, OLD), (NEW,)]
    for i in range(len(phases) - 1):
        a, b = phases[i], phases[i + 1]
        # processes of two adjacent phases run side by side: each reads the other's headers
        assert _open(seal(STATE, "t1", a[0]), keys=b) is not None
        assert _open(seal(STATE, "t1", b[0]), keys=a) is not None
    with pytest.raises(UnsealedRouteHeader):  # a dropped key verifies no more
        _open(seal(STATE, "t1", OLD), keys=(NEW,))


def test_what_is_read_is_bounded() -> None:
    hops = [{"kind": "fallback", "from": "a", "to": "b", "reason": "r" * 10_000,
             "extra": "x"}] * 100
    state = _open(seal({**STATE, "hops": hops, "sent_at": 1.0}, "t1", KEY))
    assert state is not None and len(state.hops) == MAX_HOPS
    assert all(len(h["reason"]) == HOP_REASON_CHARS and set(h) == {"kind", "from", "to",
                                                                    "reason"}
               for h in state.hops)
    assert state.sent_at == NOW - MAX_AGE  # 1970: clamped to the oldest a task may be
    future = _open(seal({**STATE, "sent_at": NOW + 3600}, "t1", KEY))
    assert future is not None and future.sent_at == NOW  # a clock ahead: now
