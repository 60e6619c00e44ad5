"""The routing config's schema: pydantic validation of a document, cross-checked.

`load_config(data)` is the only way in for a document not validated before (a file, a
CLI change, a corrupt stored config): pydantic validates every field (strict types, no
coercion: `routing.config.values`; every number a bound, the `MAX_*` of the runtime
modules), the cross-checks (`routing.config.models`) run on the result, and every
problem becomes a `ConfigError` entry naming the dotted path of the field and the reason.

The classes here mirror the runtime ones field for field, with the same names (pydantic's
messages name them): `ModelSpec` here validates what `routing.config.models.ModelSpec`
holds. A validated document is built into the runtime classes (`routing.config.stored`),
which is all a process that only reads a stored config loads. `tests/test_config_schema.py`
holds the two in step.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from routing.config import models as runtime
from routing.config import price as runtime_price
from routing.config.batch import (
    DEFAULT_BATCH_ITEMS,
    MAX_BATCH_ITEMS,
    MAX_BATCH_WAIT_SECONDS,
    MIN_BATCH_WAIT_SECONDS,
)
from routing.config.kinds import BatchFailure, BudgetPolicy, Capability, Pool, Provider
from routing.config.models import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    MAX_CONTEXT_WINDOW,
    MAX_DAILY_BUDGET_USD,
    MAX_OUTPUT_TOKENS,
    MAX_TASK_TIMEOUT_SECONDS,
    MAX_WINDOW_SECONDS,
    SMALLEST_BUDGET_USD,
    cross_check,
)
from routing.config.price import MAX_PRICE_USD_PER_MTOK, MAX_TIER_THRESHOLD
from routing.config.samples import (
    MAX_RETENTION_DAYS,
    MAX_SAMPLE_BYTES,
    MAX_SAMPLE_COUNT,
    MIN_SAMPLE_BYTES,
    SAMPLES_EXAMPLE,
)
from routing.config.stored import construct
from routing.config.values import Count, Number, Ref, Text, Usd, capped
from routing.errors import ConfigError

T = TypeVar("T")

_NAME = r"^[a-z0-9][a-z0-9_.\-]*$"
_NAME_MAX = 100

DailyUsd = Annotated[Usd, capped(MAX_DAILY_BUDGET_USD, "USD a day",
                                 "give a smaller daily budget")]


class Strict(BaseModel):
    # Each model builds its validator when first used, not when defined: a validation
    # builds the one of `RoutingConfig` (the nested models' schemas within it), not one
    # more per nested model.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# Prices (`routing.config.price`)

PerMTok = Annotated[Usd, capped(MAX_PRICE_USD_PER_MTOK, "USD per MTok",
                                "prices are USD per million tokens: check the unit")]


class Rates(Strict):
    """The four token rates, USD per MTok."""

    input: PerMTok
    output: PerMTok
    cache_read: PerMTok
    cache_write: PerMTok


class PriceTier(Rates):
    """The rates of a call whose total input tokens are above `above_input_tokens`."""

    above_input_tokens: StrictInt = Field(gt=0, le=MAX_TIER_THRESHOLD)


class Price(Rates):
    """USD per million tokens (numerically equal to micro-dollars per token)."""

    # The share of the price a provider batch saves (0.5: half price), applied on top of
    # the tier's rates; None: this model has no batch price (a model key on it cannot say
    # `batch`).
    batch_discount: Usd | None = Field(default=None, le=1)
    # Long-context tiers, thresholds strictly ascending; each gives all four rates.
    tiers: tuple[PriceTier, ...] = ()

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: tuple[PriceTier, ...]) -> tuple[PriceTier, ...]:
        for i in range(1, len(tiers)):
            if tiers[i].above_input_tokens <= tiers[i - 1].above_input_tokens:
                raise PydanticCustomError(
                    "tiers_order",
                    "tiers[{i}].above_input_tokens ({this}) must be above tiers[{prev}]'s "
                    "({that}): list the tiers by ascending threshold, each once",
                    {"i": i, "prev": i - 1, "this": tiers[i].above_input_tokens,
                     "that": tiers[i - 1].above_input_tokens},
                )
        return tiers


def _shown(value: Any) -> str:
    """A refused value as the message shows it (short)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_share(value: Any) -> bool:
    """A number in (0, 1] (a sample's or a trial's share of calls; not a bool)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and 0 < value <= 1


# A model key's batch and samples (`routing.config.batch`, `.samples`)


class BatchSpec(Strict):
    """Collect a key's calls into provider batches (the batch price; the answer within
    the provider's 24 hours): a batch is submitted when it holds `max_items` calls or its
    oldest call has waited `max_wait_seconds`."""

    max_wait_seconds: Number
    max_items: Count = Field(default=DEFAULT_BATCH_ITEMS, ge=1, le=MAX_BATCH_ITEMS)
    on_failure: BatchFailure = BatchFailure.direct

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "batch_mapping", "batch is a mapping such as {example} (optionally "
                "max_items and on_failure), got {got}; leave `batch` out for direct calls",
                {"example": "{max_wait_seconds: 3600}", "got": _shown(data)})
        return data

    @field_validator("max_wait_seconds")
    @classmethod
    def _wait(cls, value: float) -> float:
        if not MIN_BATCH_WAIT_SECONDS <= value <= MAX_BATCH_WAIT_SECONDS:
            raise PydanticCustomError(
                "batch_wait", "{value} s is outside {low}..{high} seconds: a batch waits at "
                "least a minute for company and at most the providers' 24-hour window; give "
                "a wait in that range",
                {"value": f"{value:g}", "low": MIN_BATCH_WAIT_SECONDS,
                 "high": MAX_BATCH_WAIT_SECONDS})
        return value


class SampleSpec(Strict):
    """Record `share` of the key's successful calls on its own model (their input and the
    validated answer) for replay on candidates: at most `max_count` kept, each at most
    `max_bytes` (a larger one is skipped), each for `retention_days`."""

    share: Number
    max_count: Count = Field(default=500, ge=1, le=MAX_SAMPLE_COUNT)
    max_bytes: Count = Field(default=64 * 1024, ge=MIN_SAMPLE_BYTES, le=MAX_SAMPLE_BYTES)
    retention_days: Count = Field(default=14, ge=1, le=MAX_RETENTION_DAYS)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "samples_entry", "samples is a mapping such as {example}",
                {"example": SAMPLES_EXAMPLE})
        return data

    @field_validator("share", mode="before")
    @classmethod
    def _share(cls, value: Any) -> Any:
        if not _is_share(value):
            raise PydanticCustomError(
                "samples_share", "{got!r} is not a share in (0, 1]: give the share of the "
                "key's successful calls to record, e.g. 0.05 for 5%", {"got": value})
        return value


# The config (`routing.config.models`)


def _unique_capabilities(value: tuple[Capability, ...]) -> tuple[Capability, ...]:
    repeated = sorted({c for c in value if value.count(c) > 1})
    if repeated:
        raise PydanticCustomError(
            "capability_repeated", "{repeated} listed more than once: list each capability "
            "once", {"repeated": ", ".join(repeated)})
    return value


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

    @field_validator("price", mode="before")
    @classmethod
    def _catalog_resolved(cls, value: Any) -> Any:
        if value == "catalog":
            # A config write (routing.catalog.lookup.resolve_document) replaces it by numbers.
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
        if not _is_share(value):
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
        for name in value:
            if not re.fullmatch(_NAME, name) or len(name) > _NAME_MAX:
                raise ValueError(
                    f"name '{name[:_NAME_MAX]}' must be lower-case letters, digits, '_', '-' "
                    f"or '.' (at most {_NAME_MAX})"
                )
        return value


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


def load_config(data: Any) -> runtime.RoutingConfig:
    """Validate a config document; raise `ConfigError` naming every bad field."""
    if not isinstance(data, dict):
        raise ConfigError([("", f"a routing config is a mapping, got {type(data).__name__}")])
    cfg = validated(RoutingConfig, runtime.RoutingConfig, data)
    problems = cross_check(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_price(data: Any) -> runtime_price.Price:
    """Validate a model's price (`price` of a model in a config document)."""
    return validated(Price, runtime_price.Price, data, "price")


def load_model(data: Any) -> runtime.ModelSpec:
    """Validate one model of a config document (`models.<name>`)."""
    return validated(ModelSpec, runtime.ModelSpec, data, "model")


def validated(schema: type[BaseModel], cls: type[T], data: Any, where: str = "") -> T:
    """`data` validated by `schema`, built into the runtime class `cls`; a `ConfigError`
    naming every bad field (under `where`) otherwise."""
    try:
        checked = schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [(_path((where, *err["loc"]) if where else err["loc"]), err["msg"])
             for err in exc.errors(include_url=False)]
        ) from None
    return construct(cls, checked.model_dump())
