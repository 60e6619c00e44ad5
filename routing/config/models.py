"""The routing config: one pydantic-validated document, cross-checked on every load.

`load_config(data)` is the only way in: it runs the field validation of pydantic and
then the cross-checks (references, prices, cycles) and turns every problem into a
`ConfigError` whose entries name the dotted path of the field and the reason.
Every field has a strict type (no coercion: `routing.config.values`) and every number a bound
(the `MAX_*` below); a file is read into a document by `routing.config.file`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

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
from routing.config.values import Count, Number, Ref, Text, Usd, capped
from routing.errors import AttributionError, ConfigError
from routing.money import MICROS_PER_USD

_NAME = r"^[a-z0-9][a-z0-9_.\-]*$"
_NAME_MAX = 100

# Bounds of every number (each refusal names its bound; prices: routing.config.price).
# One day of spend, overall or per model key, in USD.
MAX_DAILY_BUDGET_USD = Decimal(1_000_000)
# A budget window of at most a leap year (Redis keeps a window's keys 2 windows + 1 day).
MAX_WINDOW_SECONDS = 366 * 86_400
MAX_TASK_TIMEOUT_SECONDS = 86_400.0
MAX_CONTEXT_WINDOW = 10_000_000
MAX_OUTPUT_TOKENS = 1_000_000
DEFAULT_MAX_OUTPUT_TOKENS = 8_192

DailyUsd = Annotated[Usd, capped(MAX_DAILY_BUDGET_USD, "USD a day",
                                 "give a smaller daily budget")]


def _unique_capabilities(value: tuple[Capability, ...]) -> tuple[Capability, ...]:
    repeated = sorted({c for c in value if value.count(c) > 1})
    if repeated:
        raise PydanticCustomError(
            "capability_repeated", "{repeated} listed more than once: list each capability "
            "once", {"repeated": ", ".join(repeated)})
    return value


class Strict(BaseModel):
    # Each model builds its validator when first used, not when defined: a config read
    # builds the one of `RoutingConfig` (the nested models' schemas within it), not one
    # more per nested model (here, `routing.config.price`, `.batch`, `.samples`).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ModelSpec(Strict):
    provider: Provider
    provider_model: Text = Field(min_length=1, max_length=200)
    tier: Ref
    context_window: Count = Field(gt=0, le=MAX_CONTEXT_WINDOW)
    # The most tokens one reply may hold (the provider's output limit): a model key's
    # max_tokens must fit it, and a call on this model is clamped to it.
    max_output_tokens: Count = Field(default=DEFAULT_MAX_OUTPUT_TOKENS, ge=1,
                                     le=MAX_OUTPUT_TOKENS)
    price: Price | None = None
    # The model's id in the price catalog when it differs from the config's model name
    # (`price: catalog` and `llm-router prices check|update` look it up by this id).
    catalog_id: Text | None = Field(default=None, min_length=1, max_length=200)
    # What the model takes beyond plain text (`Capability`); none declared: text only. A
    # call that needs a capability is never routed to a model without it.
    supports: tuple[Capability, ...] = Field(default=(), max_length=len(Capability))

    _unique = field_validator("supports")(_unique_capabilities)

    def can(self, needs: frozenset[Capability]) -> bool:
        """Whether the model supports every capability of `needs`."""
        return not needs or needs.issubset(self.supports)

    def lacks(self, needs: frozenset[Capability]) -> frozenset[Capability]:
        return needs.difference(self.supports)

    @field_validator("price", mode="before")
    @classmethod
    def _catalog_resolved(cls, value: Any) -> Any:
        if value == "catalog":
            # A config write (routing.catalog.resolve_document) replaces it by numbers.
            raise PydanticCustomError(
                "catalog_unresolved",
                "'catalog' is resolved into numbers from the price catalog when the config "
                "is written (config init/apply); here give input, output, cache_read and "
                "cache_write in USD per MTok",
            )
        return value


class TierSpec(Strict):
    queue: Ref
    pool: Pool = Pool.threads
    concurrency: Count = Field(default=4, ge=1, le=1000)
    prefetch: Count = Field(default=1, ge=1, le=1000)
    replicas: Count = Field(default=1, ge=1, le=100)
    task_timeout_seconds: Number = Field(default=120.0, gt=0, le=MAX_TASK_TIMEOUT_SECONDS)
    # Workers of this tier also consume Celery's default queue, where foreign producers'
    # `send_task` lands, and forward each task to its tier's queue.
    dispatch: StrictBool = False


TRIAL_EXAMPLE = "{candidate: kimi-for-coding, sample: 0.05, daily_budget_usd: 1.00}"


class Trial(Strict):
    """Replay a sampled share of a key's successful calls on `candidate` (a shadow call
    whose answer is compared with the production one), within a daily trial budget."""

    candidate: Ref
    # Share of the key's successful calls replayed, in (0, 1].
    sample: Number
    daily_budget_usd: DailyUsd
    # A model key whose model judges free-text answers ("same answer? yes/no"); without
    # one, a free-text trial records cost, latency and validity only.
    judge: Ref | None = None

    @model_validator(mode="before")
    @classmethod
    def _entry(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "trial_entry", "a trial is a mapping such as {example}, got {got}",
                {"example": TRIAL_EXAMPLE, "got": _shown(data)})
        return data

    @field_validator("sample", mode="before")
    @classmethod
    def _sample(cls, value: Any) -> Any:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not 0 < value <= 1:
            what = ("is a percentage, not a share in (0, 1]"
                    if isinstance(value, str) and value.strip().endswith("%")
                    else "is not a share in (0, 1]")
            raise PydanticCustomError(
                "trial_sample", "{got} {what}: give the share of the key's successful calls "
                "to replay, e.g. 0.05 for 5%, or 1 for all", {"got": _shown(value), "what": what})
        return value

    @field_validator("daily_budget_usd")
    @classmethod
    def _budget(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise PydanticCustomError(
                "trial_budget", "{got} USD leaves the trial nothing to spend: give the "
                "trial's daily budget in USD above 0, e.g. 1.00 (or remove the trial)",
                {"got": f"{value:f}"})
        return _budget_amount(value) or value


def _shown(value: Any) -> str:
    """A refused value as the message shows it (short)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ModelKeySpec(Strict):
    model: Ref
    fallbacks: tuple[Ref, ...] = Field(default=(), max_length=50)
    escalate_to: Ref | None = None
    # Also at most the output limit of the key's model (a cross-check).
    max_tokens: Count = Field(default=1024, ge=1, le=MAX_OUTPUT_TOKENS)
    prompt_cache: StrictBool = False
    on_budget_exceeded: BudgetPolicy = BudgetPolicy.defer
    downgrade_to: Ref | None = None
    description: Text = Field(default="", max_length=2000)
    trials: tuple[Trial, ...] = Field(default=(), max_length=20)
    # The review recommends switching to a candidate when the lower bound of its 95%
    # agreement interval is at least `min_agreement`, on at least `min_samples` samples.
    min_agreement: Number = Field(default=0.95, gt=0, le=1)
    min_samples: Count = Field(default=200, ge=1, le=10_000_000)
    # Work that can wait: calls on a model with a batch API go into provider batches.
    batch: BatchSpec | None = None
    # What every call of this key needs of its model (`Capability`), e.g. [tools] for an
    # agent's tool-calling turns: a config whose key (or a model or key it may move to)
    # cannot serve it is refused when written. A call's own needs (tools given, image
    # blocks) are checked per call by the router. Typed tasks do not need
    # structured_output: they use it where the model has it and the prompt convention
    # elsewhere, so list it only to keep a key's typed work on native structured output.
    needs: tuple[Capability, ...] = Field(default=(), max_length=len(Capability))

    _unique = field_validator("needs")(_unique_capabilities)
    # Opt-in: record a share of the key's production calls (prompts included) for replay
    # on candidates (`routing.samples`, `llm-router samples`).
    samples: SampleSpec | None = None

    @field_validator("trials", mode="before")
    @classmethod
    def _trials(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return value
        shape = "a mapping" if isinstance(value, dict) else _shown(value)
        raise PydanticCustomError(
            "trials_list", "trials are a list, got {shape}: write each trial as a list item "
            "(`- candidate: kimi-for-coding` with its sample and daily_budget_usd on the "
            "lines below), or [{example}]", {"shape": shape, "example": TRIAL_EXAMPLE})


class Rule(Strict):
    """Send `model_keys` to `model` when the input has at least `min_input_tokens`."""

    name: StrictStr = Field(pattern=_NAME, max_length=_NAME_MAX)
    model_keys: tuple[Ref, ...] = Field(min_length=1, max_length=1000)
    min_input_tokens: Count = Field(ge=0, le=MAX_CONTEXT_WINDOW)
    model: Ref


# Budgets are counted in micro-dollars: a positive limit below one would be stored as 0,
# which blocks every call. 0 itself is allowed (it blocks them on purpose).
SMALLEST_BUDGET_USD = Decimal(1) / MICROS_PER_USD


def _budget_amount(value: Decimal | None) -> Decimal | None:
    if value is not None and 0 < value < SMALLEST_BUDGET_USD:
        raise PydanticCustomError(
            "budget_too_small",
            "{value} USD is below the smallest budget, {smallest} USD (one micro-dollar); "
            "give at least {smallest}, or 0 to block every call",
            {"value": f"{value:f}", "smallest": f"{SMALLEST_BUDGET_USD:f}"},
        )
    return value


class KeyBudget(Strict):
    daily_usd: DailyUsd

    _amount = field_validator("daily_usd")(_budget_amount)


class AgentBudget(Strict):
    """An agent's daily budget (`daily_usd`, with its own policy) and the cap of each of
    its runs (`run_max_usd`, `run_max_calls`; a sender's own cap wins)."""

    daily_usd: DailyUsd | None = None
    on_budget_exceeded: BudgetPolicy = BudgetPolicy.defer
    run_max_usd: DailyUsd | None = None
    run_max_calls: Count | None = Field(default=None, ge=1, le=1_000_000)

    _amount = field_validator("daily_usd", "run_max_usd")(_budget_amount)


class Budgets(Strict):
    daily_usd: DailyUsd | None = None
    model_keys: dict[StrictStr, KeyBudget] = Field(default_factory=dict)
    # Per agent (`agent` of a task's attribution): agents named here are also labelled in
    # the metrics.
    agents: dict[StrictStr, AgentBudget] = Field(default_factory=dict, max_length=200)
    # Within what Redis EXPIRE takes, and sensible: at most 366 days.
    window_seconds: Count = Field(default=86400, ge=1, le=MAX_WINDOW_SECONDS)

    _amount = field_validator("daily_usd")(_budget_amount)


class RoutingConfig(Strict):
    version: Count = Field(default=0, ge=0, le=2**53)
    models: dict[StrictStr, ModelSpec] = Field(min_length=1, max_length=1000)
    tiers: dict[StrictStr, TierSpec] = Field(min_length=1, max_length=100)
    model_keys: dict[StrictStr, ModelKeySpec] = Field(min_length=1, max_length=1000)
    rules: tuple[Rule, ...] = Field(default=(), max_length=1000)
    budgets: Budgets = Field(default_factory=Budgets)

    @field_validator("models", "tiers", "model_keys")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        import re

        for name in value:
            if not re.fullmatch(_NAME, name) or len(name) > _NAME_MAX:
                raise ValueError(
                    f"name '{name[:_NAME_MAX]}' must be lower-case letters, digits, '_', '-' "
                    f"or '.' (at most {_NAME_MAX})"
                )
        return value

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
        return self.model_dump(mode="json", exclude_none=False)


def _batch_priced(model: ModelSpec) -> bool:
    return model.price is not None and bool(model.price.batch_discount)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's mark of an error in a mapping's key
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _cross_check(cfg: RoutingConfig) -> list[tuple[str, str]]:
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


def load_config(data: Any) -> RoutingConfig:
    """Validate a config document; raise `ConfigError` naming every bad field."""
    if not isinstance(data, dict):
        raise ConfigError([("", f"a routing config is a mapping, got {type(data).__name__}")])
    try:
        cfg = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [(_path(err["loc"]), err["msg"]) for err in exc.errors(include_url=False)]
        ) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg
