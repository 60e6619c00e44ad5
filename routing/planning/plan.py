"""Sizing on paper: how many worker slots and replicas each tier needs for a given daily
volume per model key, and what a day of it costs.

Little's law: a tier whose calls arrive at `rate` per second and hold a worker slot for
`latency` seconds each keeps `rate x latency` slots busy on average; at a target
utilization `u` it needs `ceil(rate x latency / u)` slots, and `ceil(slots / concurrency)`
replicas of its worker profile. The rate is the day's mean (calls per day / 86,400):
the utilization target is the headroom for bursts, so peaky traffic wants a lower one.

Per model key, the model is the routing decision (`Router.decide`, at the key's input
tokens, so a large-input rule applies), and each figure comes from, in order: what the
caller gave; what the ledger measured for that key on that model over the window (at least
`MIN_SAMPLES` calls: the mean or p95 provider latency per call, the mean tokens per call);
else the tier's documented default (`DEFAULTS`). A day's cost prices those tokens at the
config's current prices, in integer micro-dollars. A key whose calls on its model go into
provider batches (`batch` in the config) holds a slot only to store the call, not while the
provider works on it: it counts no busy slots, and its tokens are priced at the batch rate.
Pure: no I/O (`measure` reads rows the caller fetched).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from routing.config.models import RoutingConfig
from routing.money import usd
from routing.prices.pricing import Usage, cost_micros
from routing.router import Router
from routing.spend import latency
from routing.spend.aggregates import AggregateRow, merge

DAY_SECONDS = 86_400
# Fewer calls than this on a key's model in the window: not a measurement yet.
MIN_SAMPLES = 20
LatencyStat = Literal["mean", "p95"]


@dataclass(frozen=True, slots=True)
class TierDefaults:
    """What a call of a tier is assumed to take when neither given nor measured."""

    latency_seconds: float
    input_tokens: int
    output_tokens: int


# Assumptions, not measurements (the output says "default" wherever one is used): a short
# Haiku call, a long Sonnet or Opus answer, a Kimi call with its 50,000+ token context.
DEFAULTS: dict[str, TierDefaults] = {
    "opus": TierDefaults(latency_seconds=30.0, input_tokens=4_000, output_tokens=1_500),
    "sonnet": TierDefaults(latency_seconds=15.0, input_tokens=3_000, output_tokens=1_000),
    "haiku": TierDefaults(latency_seconds=3.0, input_tokens=1_500, output_tokens=300),
    "kimi": TierDefaults(latency_seconds=40.0, input_tokens=60_000, output_tokens=2_000),
}
# A tier the shipped config does not have.
OTHER_TIER = TierDefaults(latency_seconds=30.0, input_tokens=4_000, output_tokens=1_000)


@dataclass(frozen=True, slots=True)
class Measured:
    """One key's calls on one model over the window, from the ledger's day aggregates."""

    calls: int
    timed_calls: int
    mean_seconds: float | None
    p95_seconds: float | None
    usage: Usage  # the window's total tokens of those calls

    def seconds(self, stat: LatencyStat) -> float | None:
        return self.mean_seconds if stat == "mean" else self.p95_seconds


def measure(rows: list[AggregateRow]) -> dict[tuple[str, str], Measured]:
    """(model key, model) -> what its calls took, over rows of any number of days."""
    out: dict[tuple[str, str], Measured] = {}
    for row in merge(rows):
        timed = sum(row.latency)
        p95 = latency.percentile(row.latency, 0.95)
        out[(row.model_key, row.model)] = Measured(
            calls=row.calls, timed_calls=timed,
            mean_seconds=row.latency_ms / timed / 1000 if timed else None,
            p95_seconds=p95 / 1000 if p95 is not None else None,
            usage=row.usage,
        )
    return out


@dataclass(frozen=True, slots=True)
class KeyPlan:
    model_key: str
    model: str
    tier: str
    calls_per_day: int
    rate_per_second: float  # the day's mean arrival rate
    latency_seconds: float
    latency_source: str  # "given", "measured mean (n=...)", "default"
    input_tokens: float  # per call
    output_tokens: float
    tokens_source: str
    busy_slots: float  # rate x latency
    cost_per_day_micros: int
    batched: bool = False  # in provider batches: no slot held, the batch rate


@dataclass(frozen=True, slots=True)
class TierPlan:
    tier: str
    queue: str
    model_keys: tuple[str, ...]
    calls_per_day: int
    busy_slots: float
    slots: int
    concurrency: int
    replicas: int
    configured_replicas: int
    cost_per_day_micros: int


@dataclass(frozen=True, slots=True)
class Plan:
    config_version: int
    utilization: float
    latency_stat: LatencyStat
    days: int
    keys: tuple[KeyPlan, ...]
    tiers: tuple[TierPlan, ...]

    @property
    def cost_per_day_micros(self) -> int:
        return sum(t.cost_per_day_micros for t in self.tiers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "config_version": self.config_version, "utilization": self.utilization,
            "latency_stat": self.latency_stat, "days": self.days,
            "tiers": [{**asdict(t), "model_keys": list(t.model_keys),
                       "cost_per_day_usd": usd(t.cost_per_day_micros)} for t in self.tiers],
            "model_keys": [{**asdict(k), "busy_slots": round(k.busy_slots, 4),
                            "cost_per_day_usd": usd(k.cost_per_day_micros)}
                           for k in self.keys],
            "total": {
                "calls_per_day": sum(t.calls_per_day for t in self.tiers),
                "slots": sum(t.slots for t in self.tiers),
                "replicas": sum(t.replicas for t in self.tiers),
                "cost_per_day_micros": self.cost_per_day_micros,
                "cost_per_day_usd": usd(self.cost_per_day_micros),
                "cost_per_30_days_usd": usd(self.cost_per_day_micros * 30),
            },
        }


def _ceil(value: float) -> int:
    # 2.0000000001 from float arithmetic is 2 slots, not 3.
    return math.ceil(round(value, 9))


def _key_plan(config: RoutingConfig, key: str, calls: int, *, stat: LatencyStat,
              given_latency: float | None, given_tokens: tuple[int, int] | None,
              measured: dict[tuple[str, str], Measured], days: int) -> KeyPlan:
    model = Router(config).decide(key, given_tokens[0] if given_tokens else 0).model
    tier = config.models[model].tier
    default = DEFAULTS.get(tier, OTHER_TIER)
    seen = measured.get((key, model))
    price = config.price_of(model)
    batched = config.batch_for(key, model) is not None

    timed = seen.seconds(stat) if seen and seen.timed_calls >= MIN_SAMPLES else None
    if batched:
        # stored in its model's open batch and acked: the wait is the provider's, not a slot
        seconds, latency_source = 0.0, "batched"
    elif given_latency is not None:
        seconds, latency_source = given_latency, "given"
    elif seen is not None and timed is not None:
        seconds = timed
        latency_source = f"measured {stat} (n={seen.timed_calls}, {days}d)"
    else:
        seconds, latency_source = default.latency_seconds, "default"
    # Computed from the figure as shown, so that every number can be checked by hand.
    seconds = round(seconds, 3)

    if given_tokens is not None:
        usage, per, tokens_source = Usage(*given_tokens), 1, "given"
    elif seen is not None and seen.calls >= MIN_SAMPLES:
        usage, per = seen.usage, seen.calls
        tokens_source = f"measured (n={seen.calls}, {days}d)"
    else:
        usage, per = Usage(default.input_tokens, default.output_tokens), 1
        tokens_source = "default"
    rate = calls / DAY_SECONDS
    return KeyPlan(
        model_key=key, model=model, tier=tier, calls_per_day=calls,
        rate_per_second=round(rate, 4),
        latency_seconds=seconds, latency_source=latency_source,
        input_tokens=round(usage.input_tokens / per, 1),
        output_tokens=round(usage.output_tokens / per, 1), tokens_source=tokens_source,
        busy_slots=rate * seconds,
        # `usage` is `per` calls' worth (one mean call of the window, or the given one),
        # priced exactly and rounded once per day.
        cost_per_day_micros=round(cost_micros(usage, price, batch=batched, calls=per)
                                  * calls / per),
        batched=batched,
    )


def plan(
    config: RoutingConfig,
    calls_per_day: dict[str, int],
    *,
    utilization: float = 0.7,
    latency_stat: LatencyStat = "mean",
    latencies: dict[str, float] | None = None,
    tokens: dict[str, tuple[int, int]] | None = None,
    measured: dict[tuple[str, str], Measured] | None = None,
    days: int = 7,
) -> Plan:
    """Slots, replicas and daily cost per tier for `calls_per_day` (model key -> calls).

    Raises `UnknownModelKeyError` for a key the config lacks and `ValueError` for a
    utilization outside (0, 1] or a negative count (`routing.planning.input` checks the CLI's
    input first, naming the flag).
    """
    if not 0 < utilization <= 1:
        raise ValueError(f"utilization must be in (0, 1], got {utilization}")
    latencies, tokens, measured = latencies or {}, tokens or {}, measured or {}
    keys = []
    for key, calls in sorted(calls_per_day.items()):
        if calls < 0:
            raise ValueError(f"calls per day of {key} must not be negative, got {calls}")
        keys.append(_key_plan(config, key, calls, stat=latency_stat,
                              given_latency=latencies.get(key), given_tokens=tokens.get(key),
                              measured=measured, days=days))
    tiers = []
    for name, spec in config.tiers.items():
        mine = [k for k in keys if k.tier == name]
        busy = sum(k.busy_slots for k in mine)
        slots = _ceil(busy / utilization)
        tiers.append(TierPlan(
            tier=name, queue=spec.queue, model_keys=tuple(k.model_key for k in mine),
            calls_per_day=sum(k.calls_per_day for k in mine), busy_slots=round(busy, 3),
            slots=slots, concurrency=spec.concurrency,
            replicas=_ceil(slots / spec.concurrency), configured_replicas=spec.replicas,
            cost_per_day_micros=sum(k.cost_per_day_micros for k in mine),
        ))
    return Plan(config_version=config.version, utilization=utilization,
                latency_stat=latency_stat, days=days, keys=tuple(keys), tiers=tuple(tiers))
