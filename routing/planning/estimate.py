"""Cost estimate of a recurring task on every model of the catalog.

For a task that runs `runs_per_day` times with `input_tokens` in and `output_tokens` out,
each model's daily cost is `runs_per_day * cost_micros(one run)` (integer micro-dollars,
rounded per call as the ledger counts them) and its ratio to the cheapest model. Every
number comes from the config's prices; no ratio is ever a constant. A model whose context
window cannot hold a run (input plus output tokens) is left out, with the reason: it could
not do the task at any price, so it is neither ranked nor the cheapest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routing.config.models import RoutingConfig
from routing.errors import PromptTooLargeError
from routing.money import usd
from routing.prices.pricing import Usage, cost_micros
from routing.router import Router


@dataclass(frozen=True, slots=True)
class ModelCost:
    model: str
    tier: str
    per_run_micros: int
    daily_micros: int
    ratio_to_cheapest: float | None  # None when the cheapest costs nothing
    routed: bool


@dataclass(frozen=True, slots=True)
class Estimate:
    model_key: str
    routed_model: str
    runs_per_day: int
    input_tokens: int
    output_tokens: int
    config_version: int
    cheapest: str
    models: tuple[ModelCost, ...]  # cheapest first
    excluded: tuple[tuple[str, str], ...] = ()  # (model, why) for models left out

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_key": self.model_key,
            "routed_model": self.routed_model,
            "runs_per_day": self.runs_per_day,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "config_version": self.config_version,
            "cheapest": self.cheapest,
            "per_model": {m.model: usd(m.daily_micros) for m in self.models},
            "per_model_micros": {m.model: m.daily_micros for m in self.models},
            "per_run_micros": {m.model: m.per_run_micros for m in self.models},
            "ratio_to_cheapest": {m.model: m.ratio_to_cheapest for m in self.models},
            # None: the routed model cannot hold this run's output (the router sizes a
            # call by the key's max_tokens), so it is among `excluded`
            "routed_daily_usd": next((usd(m.daily_micros) for m in self.models
                                      if m.model == self.routed_model), None),
            "excluded": dict(self.excluded),
        }

    def by_model(self, model: str) -> ModelCost:
        for cost in self.models:
            if cost.model == model:
                return cost
        raise KeyError(model)


def _check(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def estimate(
    config: RoutingConfig,
    model_key: str,
    *,
    runs_per_day: int,
    input_tokens: int,
    output_tokens: int,
) -> Estimate:
    """Daily cost of a recurring task on every catalog model (`model_key` marks the routed one).

    Raises `UnknownModelKeyError` for an unknown key, `ValueError` for negative counts,
    `PromptTooLargeError` when no model can hold a run.
    """
    _check("runs_per_day", runs_per_day)
    _check("input_tokens", input_tokens)
    _check("output_tokens", output_tokens)
    routed = Router(config).decide(model_key, input_tokens).model
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    run_tokens = input_tokens + output_tokens
    excluded = tuple(
        (m, f"context window {spec.context_window:,} tokens < {run_tokens:,} "
            f"({input_tokens:,} in + {output_tokens:,} out)")
        for m, spec in sorted(config.models.items()) if run_tokens > spec.context_window)
    if len(excluded) == len(config.models):
        raise PromptTooLargeError(model_key, input_tokens, {
            m: spec.context_window for m, spec in config.models.items()})
    left_out = dict(excluded)
    per_run = {m: cost_micros(usage, config.price_of(m)) for m in config.models
               if m not in left_out}
    daily = {m: runs_per_day * c for m, c in per_run.items()}
    cheapest = min(daily, key=lambda m: (daily[m], m))
    floor = daily[cheapest]
    costs = [
        ModelCost(
            model=m,
            tier=config.models[m].tier,
            per_run_micros=per_run[m],
            daily_micros=daily[m],
            ratio_to_cheapest=(daily[m] / floor) if floor else (1.0 if not daily[m] else None),
            routed=m == routed,
        )
        for m in sorted(daily, key=lambda m: (daily[m], m))
    ]
    return Estimate(
        model_key=model_key,
        routed_model=routed,
        runs_per_day=runs_per_day,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        config_version=config.version,
        cheapest=cheapest,
        models=tuple(costs),
        excluded=excluded,
    )
