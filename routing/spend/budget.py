"""Budgets: reserve a call's worst-case cost before it is made, atomically.

A budget is `overall` (config `budgets.daily_usd`) or `model_key:<key>` (config
`budgets.model_keys.<key>.daily_usd`), counted per window: window index =
floor(unix time / `budgets.window_seconds`), so with 86400 a window is the UTC day. The
clock is the Redis server's (`TIME` inside the scripts).

`BudgetBook.reserve` is one EVALSHA: it checks every configured budget of the call
(spent + reserved + needed <= limit) and, if all pass, adds the amount to each budget's
reserved counter and remembers the reservation under the call id. `Ledger.settle` (one
EVALSHA) then releases it and adds the actual cost to spent. A reservation that is never
settled (the worker died) stops counting after its TTL: the next script that runs releases
it. The TTL must exceed the longest call (default 15 minutes; tiers time out at 300 s).
A reservation is charged to the window it was made in, even if it settles after a reset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from routing.attribution import Attribution, RunCap
from routing.config.models import RoutingConfig
from routing.decode import text
from routing.errors import BudgetExceededError, RunBudgetExceededError
from routing.keys import candidate_days, keyspace, spend_keys
from routing.money import usd, usd_to_micros
from routing.spend.budget_names import OVERALL, agent_budget, key_budget, trial_budget
from routing.spend.lua import RESERVE, STATUS
from routing.timestamps import iso

DEFAULT_RESERVATION_TTL = 900.0
# A batched call's reservation lives while it waits for its batch (up to a day) and while
# the provider works on the batch (up to a day): at most three days.
MAX_RESERVATION_TTL = 3 * 86400.0


def run_cap_of(config: RoutingConfig, who: Attribution) -> RunCap:
    """The cap of `who`'s run: the sender's, else its agent's in the config (a run's first
    call fixes it)."""
    if who.cap:
        return who.cap
    spec = config.budgets.agents.get(who.agent) if who.agent else None
    if spec is None:
        return RunCap()
    return RunCap(None if spec.run_max_usd is None else usd_to_micros(spec.run_max_usd),
                  spec.run_max_calls)


@dataclass(frozen=True, slots=True)
class Window:
    index: int
    seconds: int

    @classmethod
    def at(cls, ts: float, seconds: int) -> Window:
        return cls(int(ts // seconds), seconds)

    @property
    def start(self) -> int:
        return self.index * self.seconds

    @property
    def end(self) -> int:
        return self.start + self.seconds

    @property
    def resets_at(self) -> str:
        return iso(self.end)


def limits_of(config: RoutingConfig, model_key: str) -> tuple[int | None, int | None]:
    """(overall limit, model key limit) in micro-dollars; None where no budget is set."""
    b = config.budgets
    overall = usd_to_micros(b.daily_usd) if b.daily_usd is not None else None
    kb = b.model_keys.get(model_key)
    return overall, usd_to_micros(kb.daily_usd) if kb is not None else None


def budgets_apply(config: RoutingConfig, model_key: str) -> bool:
    """True if any budget limits calls of `model_key` (else `reserve` needs no Redis)."""
    return any(limit is not None for limit in limits_of(config, model_key))


def seconds_until(resets_at: str, now: float | None = None) -> float:
    """Seconds from `now` (default: this host's clock) until an ISO `resets_at`."""
    end = datetime.fromisoformat(resets_at.replace("Z", "+00:00")).timestamp()
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, end - current)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What `reserve` holds for one call (`held` is False only for a replay).
    `duplicate`: the call id was reserved or settled already (a replayed trial: make no
    second call)."""

    call_id: str
    model_key: str
    needed_micros: int
    held: bool
    window: Window | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    budget: str
    limit_micros: int | None
    spent_micros: int
    reserved_micros: int
    remaining_micros: int | None
    window_start: str
    resets_at: str
    # of `spent`: calls never settled (their worker died), charged at their reserved bound
    estimated_micros: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("limit", "spent", "reserved", "remaining", "estimated"):
            micros = out[f"{name}_micros"]
            out[f"{name}_usd"] = None if micros is None else usd(micros)
        return out


class BudgetBook:
    """Budget reservations and status of one namespace (any redis-py compatible client)."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        *,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        keep_days: int = 14,
        run_keep_days: int = 30,
    ) -> None:
        _check_ttl(reservation_ttl)
        self.client = client
        self.namespace = namespace
        self.prefix = keyspace(namespace)
        self.reservation_ttl = reservation_ttl
        # how long an estimated charge's records are kept (as the ledger keeps calls)
        self.keep_days = keep_days
        # how long a run's counters, cap and calls are kept after its last call
        self.run_keep_days = run_keep_days
        self._reserve = client.register_script(RESERVE)
        self._status = client.register_script(STATUS)

    def __repr__(self) -> str:
        return f"BudgetBook(namespace={self.namespace!r}, reservation_ttl={self.reservation_ttl})"

    def reserve(
        self,
        config: RoutingConfig,
        model_key: str,
        call_id: str,
        needed_micros: int,
        *,
        ttl: float | None = None,
        owner: str = "",
        model: str = "",
        tier: str = "",
        attribution: Attribution | None = None,
    ) -> Reservation:
        """Hold `needed_micros` in every budget of `model_key`, or raise `BudgetExceededError`.

        One EVALSHA, also when no budget limits the key: the reservation is the record that
        a call is in flight, and a call never settled (its worker died) is charged at this
        amount, marked estimated (when it expires, or when another execution of the same
        `owner` task settles). Reserving a call id twice holds it once. `ttl` (seconds)
        overrides the book's reservation TTL; `model` and `tier` name the ledger row an
        estimated charge goes to. `attribution`: the call's agent (its daily budget is
        checked and charged too), run (its cap is checked in the same step:
        `RunBudgetExceededError`) and tags.
        """
        _check_id("call_id", call_id)
        if model_key not in config.model_keys:
            raise ValueError(
                f"model_key: unknown model key '{model_key}' "
                f"(known: {', '.join(sorted(config.model_keys))})"
            )
        if not isinstance(needed_micros, int) or needed_micros < 0:
            raise ValueError(
                f"needed_micros must be a non-negative integer (micro-dollars), "
                f"got {needed_micros!r}; use routing.prices.pricing.worst_case_micros"
            )
        overall, per_key = limits_of(config, model_key)
        budgets: list[tuple[str, int | None]] = [(OVERALL, overall),
                                                 (key_budget(model_key), per_key)]
        who = attribution or Attribution()
        if who.agent:
            spec = config.budgets.agents.get(who.agent)
            limit = None if spec is None or spec.daily_usd is None else \
                usd_to_micros(spec.daily_usd)
            budgets.append((agent_budget(who.agent), limit))
        return self._hold(config, model_key, call_id, needed_micros, ttl, budgets,
                          row=(model, tier, "agg", owner), who=who,
                          cap=run_cap_of(config, who) if who.run_id else RunCap())

    def reserve_trial(
        self, config: RoutingConfig, model_key: str, candidate: str, call_id: str,
        needed_micros: int, *, ttl: float | None = None,
    ) -> Reservation:
        """Hold `needed_micros` in the trial budget of (`model_key`, `candidate`) only, or
        raise `BudgetExceededError` (the trial's budget is spent: no shadow until the
        window resets). A call id settled already comes back `duplicate`."""
        _check_id("call_id", call_id)
        spec = config.model_keys[model_key]
        trial = next((t for t in spec.trials if t.candidate == candidate), None)
        if trial is None:
            raise ValueError(f"model_keys.{model_key}: no trial of '{candidate}'")
        limit = usd_to_micros(trial.daily_budget_usd)
        tier = config.models[candidate].tier if candidate in config.models else ""
        return self._hold(config, model_key, call_id, needed_micros, ttl,
                          [(trial_budget(model_key, candidate), limit)],
                          row=(candidate, tier, "trial", ""))

    def _hold(
        self, config: RoutingConfig, model_key: str, call_id: str, needed_micros: int,
        ttl: float | None, budgets: list[tuple[str, int | None]],
        row: tuple[str, str, str, str], who: Attribution | None = None,
        cap: RunCap | None = None,
    ) -> Reservation:
        ttl = self.reservation_ttl if ttl is None else ttl
        _check_ttl(ttl)
        seconds = config.budgets.window_seconds
        model, tier, aggregate, owner = row
        days = candidate_days()
        args: list[str | int] = [
            " ".join(days), seconds, call_id, model_key, needed_micros, int(ttl * 1000),
            model, tier, aggregate, owner, self.keep_days * 86400,
            max(400, self.keep_days) * 86400,
        ]
        who = who or Attribution()
        cap = cap or RunCap()
        args += [who.agent, who.run_id, who.tags_text,
                 "" if cap.max_micros is None else cap.max_micros,
                 "" if cap.max_calls is None else cap.max_calls, self.run_keep_days * 86400]
        for name, limit in budgets:
            args += [name, "" if limit is None else limit]
        keys = spend_keys(self.prefix, days, window_seconds=seconds, call_id=call_id,
                          run_id=who.run_id)
        reply = self._reserve(keys=keys, args=args)
        window = Window(int(reply[1]), seconds)
        if int(reply[0]) == 3:
            raise RunBudgetExceededError(
                who.run_id, text(reply[2]), spent_micros=int(reply[3]),
                cap_micros=_int_or_none(reply[4]), calls=int(reply[5]),
                cap_calls=_int_or_none(reply[6]))
        if int(reply[0]) == 2:
            return Reservation(call_id, model_key, needed_micros, held=False, window=window,
                               duplicate=True)
        if int(reply[0]) == 1:  # held (now, or already by an earlier reserve of this id)
            return Reservation(call_id, model_key, needed_micros, held=True, window=window,
                               duplicate=bool(int(reply[2])))
        raise BudgetExceededError(
            budget=text(reply[2]),
            limit_micros=int(reply[3]),
            spent_micros=int(reply[4]),
            reserved_micros=int(reply[5]),
            needed_micros=needed_micros,
            resets_at=window.resets_at,
        )

    def status(self, config: RoutingConfig) -> list[BudgetStatus]:
        """Every budget of the current window: `overall` (even without a limit, to show
        spend), each model key with a configured budget, each agent of `budgets.agents`, then
        each shadow trial's. One
        EVALSHA, which also releases expired reservations first."""
        b = config.budgets
        names = [OVERALL, *(key_budget(k) for k in sorted(b.model_keys))]
        limits: list[int | None] = [
            None if b.daily_usd is None else usd_to_micros(b.daily_usd),
            *(usd_to_micros(b.model_keys[k].daily_usd) for k in sorted(b.model_keys)),
        ]
        for agent in sorted(b.agents):
            names.append(agent_budget(agent))
            daily = b.agents[agent].daily_usd
            limits.append(None if daily is None else usd_to_micros(daily))
        for key in sorted(config.model_keys):
            for trial in config.model_keys[key].trials:
                names.append(trial_budget(key, trial.candidate))
                limits.append(usd_to_micros(trial.daily_budget_usd))
        days = candidate_days()
        reply = self._status(keys=spend_keys(self.prefix, days, window_seconds=b.window_seconds),
                             args=[" ".join(days), b.window_seconds, *names])
        window = Window(int(reply[1]), b.window_seconds)
        out: list[BudgetStatus] = []
        for i, (name, limit) in enumerate(zip(names, limits, strict=True)):
            spent, reserved, estimated = (int(v) for v in reply[2 + 3 * i:5 + 3 * i])
            remaining = None if limit is None else max(0, limit - spent - reserved)
            out.append(
                BudgetStatus(name, limit, spent, reserved, remaining,
                             iso(window.start), window.resets_at, estimated)
            )
        return out


def _int_or_none(value: Any) -> int | None:
    raw = text(value) if value is not None else ""
    return int(raw) if raw else None


def _check_ttl(ttl: float) -> None:
    if not 0 < ttl <= MAX_RESERVATION_TTL:
        raise ValueError(
            f"reservation ttl must be in (0, {MAX_RESERVATION_TTL:.0f}] seconds and longer "
            f"than the longest call, got {ttl!r}"
        )


def _check_id(field: str, value: str) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError(f"{field} must be a non-empty string without spaces, got {value!r}")
