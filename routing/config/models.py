"""The routing config at run time: models, tiers, model keys, rules, budgets.

Plain frozen dataclasses, cross-checked (references, prices, cycles, capabilities) on every
load (`cross_check`). A document becomes one by `routing.config.load`: validated by
pydantic (`routing.config.schema`: strict types, every number within the `MAX_*` below)
when it was not validated before, built without pydantic when it is a stored config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from routing.attribution_names import AGENT_MAX, check_name
from routing.config.batch import BatchSpec, batch_problems
from routing.config.kinds import (
    BATCH_PROVIDERS,
    BudgetPolicy,
    Capability,
    Pool,
    Provider,
    capabilities_shown,
)
from routing.config.price import Price
from routing.config.samples import SampleSpec
from routing.config.stored import dump
from routing.errors import AttributionError
from routing.money import MICROS_PER_USD

# Bounds of every number (each refusal names its bound; prices: routing.config.price).
# One day of spend, overall or per model key, in USD.
MAX_DAILY_BUDGET_USD = Decimal(1_000_000)
# A budget window of at most a leap year (Redis keeps a window's keys 2 windows + 1 day).
MAX_WINDOW_SECONDS = 366 * 86_400
MAX_TASK_TIMEOUT_SECONDS = 86_400.0
MAX_CONTEXT_WINDOW = 10_000_000
MAX_OUTPUT_TOKENS = 1_000_000
DEFAULT_MAX_OUTPUT_TOKENS = 8_192
# Budgets are counted in micro-dollars: a positive limit below one would be stored as 0,
# which blocks every call. 0 itself is allowed (it blocks them on purpose).
SMALLEST_BUDGET_USD = Decimal(1) / MICROS_PER_USD

# Every class is frozen, its fields given by name.
@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    provider: Provider
    provider_model: str
    tier: str
    context_window: int
    # The most tokens one reply may hold (the provider's output limit): a model key's
    # max_tokens must fit it, and a call on this model is clamped to it.
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    price: Price | None = None
    # The model's id in the price catalog when it differs from the config's model name
    # (`price: catalog` and `llm-router prices check|update` look it up by this id).
    catalog_id: str | None = None
    # What the model takes beyond plain text (`Capability`); none declared: text only. A
    # call that needs a capability is never routed to a model without it.
    supports: tuple[Capability, ...] = ()

    def can(self, needs: frozenset[Capability]) -> bool:
        """Whether the model supports every capability of `needs`."""
        return not needs or needs.issubset(self.supports)

    def lacks(self, needs: frozenset[Capability]) -> frozenset[Capability]:
        return needs.difference(self.supports)


@dataclass(frozen=True, kw_only=True)
class TierSpec:
    queue: str
    pool: Pool = Pool.threads
    concurrency: int = 4
    prefetch: int = 1
    replicas: int = 1
    task_timeout_seconds: float = 120.0
    # Workers of this tier also consume Celery's default queue, where foreign producers'
    # `send_task` lands, and forward each task to its tier's queue.
    dispatch: bool = False


@dataclass(frozen=True, kw_only=True)
class Trial:
    """Replay a sampled share of a key's successful calls on `candidate` (a shadow call
    whose answer is compared with the production one), within a daily trial budget."""

    candidate: str
    # Share of the key's successful calls replayed, in (0, 1].
    sample: float
    daily_budget_usd: Decimal
    # A model key whose model judges free-text answers ("same answer? yes/no"); without
    # one, a free-text trial records cost, latency and validity only.
    judge: str | None = None


@dataclass(frozen=True, kw_only=True)
class ModelKeySpec:
    model: str
    fallbacks: tuple[str, ...] = ()
    escalate_to: str | None = None
    # Also at most the output limit of the key's model (a cross-check).
    max_tokens: int = 1024
    prompt_cache: bool = False
    on_budget_exceeded: BudgetPolicy = BudgetPolicy.defer
    downgrade_to: str | None = None
    description: str = ""
    trials: tuple[Trial, ...] = ()
    # The review recommends switching to a candidate when the lower bound of its 95%
    # agreement interval is at least `min_agreement`, on at least `min_samples` samples.
    min_agreement: float = 0.95
    min_samples: int = 200
    # Work that can wait: calls on a model with a batch API go into provider batches.
    batch: BatchSpec | None = None
    # What every call of this key needs of its model (`Capability`), e.g. [tools] for an
    # agent's tool-calling turns: a config whose key (or a model or key it may move to)
    # cannot serve it is refused when written. A call's own needs (tools given, image
    # blocks) are checked per call by the router. Typed tasks do not need
    # structured_output: they use it where the model has it and the prompt convention
    # elsewhere, so list it only to keep a key's typed work on native structured output.
    needs: tuple[Capability, ...] = ()
    # Opt-in: record a share of the key's production calls (prompts included) for replay
    # on candidates (`routing.samples`, `llm-router samples`).
    samples: SampleSpec | None = None


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Send `model_keys` to `model` when the input has at least `min_input_tokens`."""

    name: str
    model_keys: tuple[str, ...]
    min_input_tokens: int
    model: str


@dataclass(frozen=True, kw_only=True)
class KeyBudget:
    daily_usd: Decimal


@dataclass(frozen=True, kw_only=True)
class AgentBudget:
    """An agent's daily budget (`daily_usd`, with its own policy) and the cap of each of
    its runs (`run_max_usd`, `run_max_calls`; a sender's own cap wins)."""

    daily_usd: Decimal | None = None
    on_budget_exceeded: BudgetPolicy = BudgetPolicy.defer
    run_max_usd: Decimal | None = None
    run_max_calls: int | None = None


@dataclass(frozen=True, kw_only=True)
class Budgets:
    daily_usd: Decimal | None = None
    model_keys: dict[str, KeyBudget] = field(default_factory=dict)
    # Per agent (`agent` of a task's attribution): agents named here are also labelled in
    # the metrics.
    agents: dict[str, AgentBudget] = field(default_factory=dict)
    window_seconds: int = 86400


@dataclass(frozen=True, kw_only=True)
class RoutingConfig:
    version: int = 0
    models: dict[str, ModelSpec]
    tiers: dict[str, TierSpec]
    model_keys: dict[str, ModelKeySpec]
    rules: tuple[Rule, ...] = ()
    budgets: Budgets = field(default_factory=Budgets)

    def price_of(self, model: str) -> Price:
        price = self.models[model].price
        assert price is not None, "load_config refuses unpriced models"
        return price

    def batch_for(self, key: str, model: str) -> BatchSpec | None:
        """`key`'s batch settings when its calls on `model` go into provider batches: the
        key says `batch` and the model's provider has a batch API and a batch price (a
        fallback or rule target without one is called directly)."""
        spec = self.model_keys.get(key)
        target = self.models.get(model)
        if spec is None or spec.batch is None or target is None:
            return None
        if target.provider not in BATCH_PROVIDERS or not _batch_priced(target):
            return None
        return spec.batch

    def document(self) -> dict[str, Any]:
        """The JSON-able document (what the store keeps and `config show --json` prints)."""
        return dump(self)


def _batch_priced(model: ModelSpec) -> bool:
    return model.price is not None and bool(model.price.batch_discount)


def cross_check(cfg: RoutingConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    models, tiers, keys = cfg.models, cfg.tiers, cfg.model_keys

    def need_model(path: str, name: str | None) -> None:
        if name is not None and name not in models:
            problems.append((path, f"unknown model '{name}' (known: {', '.join(sorted(models))})"))

    for name, tier in tiers.items():
        if tier.queue != f"llm.{name}":
            problems.append((f"tiers.{name}.queue", f"must be 'llm.{name}', got '{tier.queue}'"))
    for name, model in models.items():
        if model.tier not in tiers:
            problems.append(
                (f"models.{name}.tier", f"unknown tier '{model.tier}' (known: {', '.join(tiers)})")
            )
        if model.context_window < model.max_output_tokens:
            problems.append(
                (f"models.{name}.context_window",
                 f"{model.context_window} is smaller than its max_output_tokens "
                 f"{model.max_output_tokens} (the window holds the input and the reply); "
                 "raise it or lower max_output_tokens")
            )
        if model.price is None:
            problems.append(
                (f"models.{name}.price", "model has no price; an unpriced model is never "
                 "counted at $0: add input, output, cache_read and cache_write in USD per MTok")
            )
    for key, spec in keys.items():
        base = f"model_keys.{key}"
        need_model(f"{base}.model", spec.model)
        if spec.model in models and spec.max_tokens > models[spec.model].max_output_tokens:
            problems.append(
                (f"{base}.max_tokens",
                 f"{spec.max_tokens} is above the output limit of '{spec.model}' "
                 f"(models.{spec.model}.max_output_tokens: "
                 f"{models[spec.model].max_output_tokens}); lower it, or raise the model's "
                 "max_output_tokens if the provider allows more")
            )
        if spec.model in models and spec.max_tokens >= models[spec.model].context_window:
            window = models[spec.model].context_window
            problems.append(
                (f"{base}.max_tokens",
                 f"{spec.max_tokens} leaves no room for the input in the context window of "
                 f"'{spec.model}' (models.{spec.model}.context_window: {window}): every "
                 "call would go to a fallback; lower it below the window, or raise the "
                 "model's context_window")
            )
        seen = {spec.model}
        for i, fb in enumerate(spec.fallbacks):
            need_model(f"{base}.fallbacks[{i}]", fb)
            if fb in seen:
                problems.append(
                    (f"{base}.fallbacks[{i}]",
                     f"'{fb}' repeats an earlier model of this key (cycle)")
                )
            seen.add(fb)
        need_model(f"{base}.downgrade_to", spec.downgrade_to)
        if spec.on_budget_exceeded is BudgetPolicy.downgrade and spec.downgrade_to is None:
            problems.append(
                (f"{base}.downgrade_to", "policy 'downgrade' needs a model to downgrade to")
            )
        # A key routed onto its own downgrade model (`config set`) simply has no downgrade
        # left (the policy defers); a dearer one would spend more when the budget is out.
        if (spec.on_budget_exceeded is BudgetPolicy.downgrade and spec.downgrade_to
                and spec.downgrade_to != spec.model):
            problem = downgrade_problem(models, spec.model, spec.downgrade_to)
            if problem is not None:
                problems.append((f"{base}.downgrade_to", problem))
        if spec.escalate_to is not None and spec.escalate_to not in keys:
            problems.append((f"{base}.escalate_to", f"unknown model key '{spec.escalate_to}'"))
        problems += _trial_problems(base, spec, models, keys)
        problems += _capability_problems(base, key, spec, cfg)
        target = models.get(spec.model)
        if spec.batch is not None and target is not None:
            problems += batch_problems(base, spec.model, str(target.provider),
                                       _batch_priced(target))
    for key in keys:
        chain, cur = [key], keys[key].escalate_to
        while cur is not None and cur in keys:
            if cur in chain:
                problems.append(
                    (f"model_keys.{key}.escalate_to",
                     "escalation cycle: " + " -> ".join([*chain, cur]))
                )
                break
            chain.append(cur)
            cur = keys[cur].escalate_to
    for i, rule in enumerate(cfg.rules):
        need_model(f"rules[{i}].model", rule.model)
        for j, key in enumerate(rule.model_keys):
            if key not in keys:
                problems.append((f"rules[{i}].model_keys[{j}]", f"unknown model key '{key}'"))
    for key in cfg.budgets.model_keys:
        if key not in keys:
            problems.append((f"budgets.model_keys.{key}", f"unknown model key '{key}'"))
    for agent in cfg.budgets.agents:
        try:
            check_name(f"budgets.agents.{agent[:AGENT_MAX]}", agent, AGENT_MAX)
        except AttributionError as exc:
            problems.append((exc.path, str(exc).removeprefix(exc.path + ": ")))
    return problems


def downgrade_problem(models: dict[str, ModelSpec], model: str, target: str) -> str | None:
    """Why a key on `model` cannot downgrade to `target` when its budget has no room (None:
    it can): the target must cost less, by list price (input + output USD per MTok).
    Unknown or unpriced models are other problems, named elsewhere."""
    if target == model:
        return (f"'{target}' is already the key's model: a downgrade moves to a cheaper "
                "model")
    ours, theirs = models.get(model), models.get(target)
    if ours is None or theirs is None or ours.price is None or theirs.price is None:
        return None
    if theirs.price.list_usd < ours.price.list_usd:
        return None
    cheaper = sorted((m for m, spec in models.items()
                      if spec.price is not None and spec.price.list_usd < ours.price.list_usd),
                     key=lambda m: (models[m].price.list_usd, m))  # type: ignore[union-attr]
    fix = (f"give a cheaper model ({', '.join(cheaper)})" if cheaper
           else "no catalog model is cheaper")
    return (f"'{target}' ({theirs.price.shown()}) is not cheaper than the key's model "
            f"'{model}' ({ours.price.shown()}): a downgrade moves to a cheaper model; {fix}, "
            "or use policy 'defer' or 'reject'")


def _capability_problems(
    base: str, key: str, spec: ModelKeySpec, cfg: RoutingConfig
) -> list[tuple[str, str]]:
    """A key that declares `needs` must be served by every model it may land on: its
    model, fallbacks, budget downgrade, the rules naming it and the models of the keys it
    escalates to (unknown names are other problems, named elsewhere)."""
    needs = frozenset(spec.needs)
    if not needs:
        return []
    places: list[tuple[str, str | None]] = [(f"{base}.model", spec.model)]
    places += [(f"{base}.fallbacks[{i}]", fb) for i, fb in enumerate(spec.fallbacks)]
    if spec.on_budget_exceeded is BudgetPolicy.downgrade:
        places.append((f"{base}.downgrade_to", spec.downgrade_to))
    places += [(f"rules[{i}].model", rule.model) for i, rule in enumerate(cfg.rules)
               if key in rule.model_keys]
    places += [(f"{base}.trials[{i}].candidate", t.candidate)
               for i, t in enumerate(spec.trials)]
    chain, cur = [key], spec.escalate_to
    while cur is not None and cur in cfg.model_keys and cur not in chain:
        chain.append(cur)
        places.append((f"{base}.escalate_to", cfg.model_keys[cur].model))
        cur = cfg.model_keys[cur].escalate_to
    capable = sorted(m for m, s in cfg.models.items() if s.can(needs))
    fix = (f"models that support it: {', '.join(capable)}" if capable
           else "no model of this config supports it")
    problems: list[tuple[str, str]] = []
    for path, model in places:
        target = cfg.models.get(model) if model is not None else None
        if target is None or target.can(needs):
            continue
        lacking = capabilities_shown(target.lacks(needs))
        problems.append((path, (
            f"'{model}' lacks {lacking} (models.{model}.supports: "
            f"[{capabilities_shown(set(target.supports))}]), which {base}.needs declares: "
            f"give a model that supports it ({fix}), add it to models.{model}.supports if "
            f"the provider offers it, or remove it from {base}.needs")))
    return problems


def _trial_problems(
    base: str, spec: ModelKeySpec, models: dict[str, ModelSpec], keys: dict[str, ModelKeySpec]
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, trial in enumerate(spec.trials):
        path = f"{base}.trials[{i}]"
        if trial.candidate not in models:
            problems.append((f"{path}.candidate", f"unknown model '{trial.candidate}' "
                             f"(known: {', '.join(sorted(models))})"))
        elif models[trial.candidate].price is None:
            problems.append((f"{path}.candidate", f"'{trial.candidate}' has no price: a "
                             "trial's spend must be counted"))
        if trial.candidate == spec.model:
            problems.append((f"{path}.candidate", f"'{trial.candidate}' is already the key's "
                             "model: a trial measures another model"))
        if trial.candidate in seen:
            problems.append((f"{path}.candidate", f"'{trial.candidate}' has a trial already "
                             "on this key"))
        seen.add(trial.candidate)
        if trial.judge is not None and trial.judge not in keys:
            problems.append((f"{path}.judge", f"unknown model key '{trial.judge}' "
                             f"(known: {', '.join(sorted(keys))})"))
    return problems
