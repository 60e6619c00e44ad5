"""Typed settings, read from the environment in exactly one place.

Every other module receives a `Settings` (or what it derives from it); nothing else reads
`os.environ`. Secrets are `SecretStr` so that they never show in a repr, a log or Flower.

`Settings()` reads each field from its environment variable (the field's alias); values
passed explicitly (by field name or by variable name) win over the environment. An empty
variable (`KEY=` in an env file) means "not set": the default applies. A plain pydantic
model rather than pydantic-settings: the CLI starts ~15 ms faster without it.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from routing.keys import keyspace
from routing.redis_url import URL_FORMS, check_url, is_topology_url, redact_url
from workers.errors import SettingsError
from workers.plain_settings import MIN_HEADER_KEY_CHARS, NAMESPACE_PATTERN

# Simulated mode spends nothing, so its route headers need no secret: without
# LLM_ROUTER_HEADER_KEYS its processes share this public key (the offline demo, a
# docker-compose trial run). Live mode never uses it.
SIMULATED_HEADER_KEY = b"llm-router simulated mode: no secret, nothing is spent"

BrokerKind = Literal["redis", "amqp", "other"]
# kombu's transport names for these URL schemes: its Redis transport, and py-amqp (RabbitMQ)
REDIS_SCHEMES = frozenset({"redis", "rediss"})
AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})


def broker_kind(url: str) -> BrokerKind:
    """Which broker a URL names (the first URL of a `;`-separated failover list)."""
    scheme = urlsplit(url.split(";", 1)[0].strip()).scheme.lower()
    if scheme in REDIS_SCHEMES:
        return "redis"
    return "amqp" if scheme in AMQP_SCHEMES else "other"


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True,
                              validate_by_alias=True)

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", validation_alias="LLM_ROUTER_REDIS_URL"
    )
    broker_url: str = Field(default="", validation_alias="LLM_ROUTER_BROKER_URL")
    result_backend: str = Field(default="", validation_alias="LLM_ROUTER_RESULT_BACKEND")
    namespace: str = Field(default="llmr", validation_alias="LLM_ROUTER_NAMESPACE")
    provider_mode: Literal["live", "simulated"] = Field(
        default="live", validation_alias="LLM_ROUTER_PROVIDER_MODE"
    )
    # Latency of the simulated provider, in seconds (offline runs and the demo).
    simulated_latency: float = Field(
        default=0.05, ge=0, allow_inf_nan=False, validation_alias="LLM_ROUTER_SIMULATED_LATENCY"
    )
    # Per-model error rates of the simulated provider's typed answers, `model=rate,...`
    # (provider model ids, rates in [0, 1]): with that probability (deterministic on the
    # input) a model's answer differs from the one every correct model gives, so shadow
    # trials measure agreement offline. Unlisted models never err.
    simulated_error_rates: dict[str, float] = Field(
        default_factory=dict, validation_alias="LLM_ROUTER_SIMULATED_ERROR_RATES"
    )
    # Share of the simulated provider's typed answers under the prompt convention (the
    # output's schema in the system prompt) that are not valid JSON, in [0, 1]
    # (deterministic on the request): what a model without native structured output gets
    # wrong now and then. Native structured output never errs so (that is its point; the
    # bench and the demo measure it).
    simulated_format_error_rate: float = Field(
        default=0.0, ge=0, le=1, allow_inf_nan=False,
        validation_alias="LLM_ROUTER_SIMULATED_FORMAT_ERROR_RATE",
    )
    # How often a process checks the config version in case a pub/sub message was missed.
    config_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, allow_inf_nan=False,
        validation_alias="LLM_ROUTER_CONFIG_POLL_SECONDS",
    )
    # Timeout of one provider HTTP request (Celery time limits do not apply to threads).
    # Finite, and at most a day (the longest task timeout a config may set).
    request_timeout: float = Field(
        default=120.0, gt=0, le=86400, allow_inf_nan=False,
        validation_alias="LLM_ROUTER_REQUEST_TIMEOUT",
    )
    result_expires_seconds: int = Field(
        default=86400, ge=60, validation_alias="LLM_ROUTER_RESULT_EXPIRES"
    )
    ledger_keep_days: int = Field(default=14, ge=1, validation_alias="LLM_ROUTER_LEDGER_DAYS")
    # How long a run (`run_id`: its counters, cap, stop flag and calls) is kept after its
    # last call, in days.
    run_keep_days: int = Field(default=30, ge=1, le=400, validation_alias="LLM_ROUTER_RUN_DAYS")
    # Metrics label agents named in the config's `budgets.agents` and, besides them, the
    # top N agents by the day's spend; every other agent is counted as `other`.
    metrics_top_agents: int = Field(default=10, ge=0, le=100,
                                    validation_alias="LLM_ROUTER_METRICS_TOP_AGENTS")
    # Prefix of every broker key (kombu's `global_keyprefix`): lets two deployments share
    # one Redis database. Empty by default so that plain Celery producers interoperate.
    broker_prefix: str = Field(default="", validation_alias="LLM_ROUTER_BROKER_PREFIX")
    # Seconds before an unacknowledged message is redelivered; 0 derives it from the
    # config (longest tier task timeout plus the longest retry delay, plus a margin).
    visibility_timeout: int = Field(
        default=0, ge=0, validation_alias="LLM_ROUTER_VISIBILITY_TIMEOUT"
    )
    # Leases of the Redis broker (workers/broker): a delivery whose worker has not renewed
    # it for this many seconds goes back to its queue (the worker died); live workers renew
    # theirs every `broker_lease_renew_seconds`, and look for expired leases every
    # `broker_lease_sweep_seconds`. The visibility timeout stays the outer bound.
    broker_lease_seconds: int = Field(
        default=20, ge=10, le=3600, validation_alias="LLM_ROUTER_BROKER_LEASE_SECONDS"
    )
    broker_lease_renew_seconds: int = Field(
        default=4, ge=1, le=1198, validation_alias="LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS"
    )
    broker_lease_sweep_seconds: int = Field(
        default=2, ge=1, le=60, validation_alias="LLM_ROUTER_BROKER_LEASE_SWEEP_SECONDS"
    )
    # A provider call's settle (one EVALSHA to the ledger) that cannot reach Redis (down,
    # restarting, loading its AOF) is retried with capped exponential backoff for this
    # many seconds, the provider's answer kept in memory; past it the task fails and the
    # call is charged at its reserved bound. Kept below the reservations' TTL (900 s), so
    # that a late settle is never pre-empted by the charge at the bound.
    settle_retry_seconds: float = Field(
        default=300.0, ge=0, le=600, allow_inf_nan=False,
        validation_alias="LLM_ROUTER_SETTLE_RETRY_SECONDS",
    )
    # Tests only: a worker pauses this many seconds after receiving a message and before
    # recording its delivery (`workers.broker.qos`), so that a test can kill it there. 0
    # (the default) adds nothing to the path.
    broker_pause_before_record: float = Field(
        default=0.0, ge=0, le=600, allow_inf_nan=False,
        validation_alias="LLM_ROUTER_BROKER_PAUSE_BEFORE_RECORD",
    )
    # Retry policy for overloaded/transient provider errors (exponential, with jitter).
    retry_base_delay: float = Field(default=2.0, ge=0, le=86400, allow_inf_nan=False,
                                    validation_alias="LLM_ROUTER_RETRY_BASE")
    retry_max_delay: float = Field(default=60.0, ge=0, le=86400, allow_inf_nan=False,
                                   validation_alias="LLM_ROUTER_RETRY_MAX")
    attempts_per_model: int = Field(
        default=3, ge=1, le=20, validation_alias="LLM_ROUTER_ATTEMPTS_PER_MODEL"
    )
    max_escalations: int = Field(
        default=2, ge=0, le=5, validation_alias="LLM_ROUTER_MAX_ESCALATIONS"
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65535, validation_alias="LLM_ROUTER_METRICS_PORT"
    )
    # Beat (celery-redbeat): seconds the running Beat's lock lives without being renewed.
    # It renews it every fifth of that, so a standby Beat takes over at most this long
    # (plus a fifth) after the running one died. Whole seconds: redbeat renews in seconds.
    beat_lock_timeout: int = Field(
        default=60, ge=2, le=3600, validation_alias="LLM_ROUTER_BEAT_LOCK_TIMEOUT"
    )

    # Keys of the route header's HMAC (`workers.execution.route_seal`), comma-separated:
    # the first signs, every one verifies. Rotation without downtime: add the new key last
    # everywhere, then make it first everywhere, then drop the old one. Unset in live mode:
    # a worker refuses to start and a producer sends no route header (the task is routed on
    # arrival); unset in simulated mode (nothing is spent): SIMULATED_HEADER_KEY.
    header_keys: tuple[SecretStr, ...] = Field(
        default=(), validation_alias="LLM_ROUTER_HEADER_KEYS")

    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    moonshot_api_key: SecretStr | None = Field(default=None, validation_alias="MOONSHOT_API_KEY")
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY")
    )
    # Admin keys: only `llm-router cost reconcile` and its daily Beat job use them, to read
    # the providers' usage and cost reports (never logged, never stored).
    anthropic_admin_key: SecretStr | None = Field(
        default=None, validation_alias="ANTHROPIC_ADMIN_KEY")
    openai_admin_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_ADMIN_KEY")
    # Reconciliation: the fleet's own workspace / project and API key at each provider (so
    # that usage of a key or workspace shared with another system is not blamed on the
    # ledger; unset: the whole organization), the tolerance of a difference (a share of the
    # larger side, or, for money, at most this many USD) and the providers' reporting
    # delay (a day is final this many hours after it ends).
    reconcile_anthropic_workspace: str | None = Field(
        default=None, validation_alias="LLM_ROUTER_RECONCILE_ANTHROPIC_WORKSPACE")
    reconcile_anthropic_api_key_id: str | None = Field(
        default=None, validation_alias="LLM_ROUTER_RECONCILE_ANTHROPIC_API_KEY_ID")
    reconcile_openai_project: str | None = Field(
        default=None, validation_alias="LLM_ROUTER_RECONCILE_OPENAI_PROJECT")
    reconcile_openai_api_key_id: str | None = Field(
        default=None, validation_alias="LLM_ROUTER_RECONCILE_OPENAI_API_KEY_ID")
    reconcile_tolerance: Decimal = Field(
        default=Decimal("0.01"), ge=0, lt=1, allow_inf_nan=False,
        validation_alias="LLM_ROUTER_RECONCILE_TOLERANCE")
    reconcile_tolerance_usd: Decimal = Field(
        default=Decimal("0.01"), ge=0, le=1000, allow_inf_nan=False,
        validation_alias="LLM_ROUTER_RECONCILE_TOLERANCE_USD")
    reconcile_delay_hours: int = Field(
        default=24, ge=0, le=24 * 7, validation_alias="LLM_ROUTER_RECONCILE_DELAY_HOURS")
    anthropic_base_url: str | None = Field(default=None, validation_alias="ANTHROPIC_BASE_URL")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    moonshot_base_url: str = Field(
        default="https://api.moonshot.ai/v1", validation_alias="MOONSHOT_BASE_URL"
    )
    gemini_base_url: str = Field(
        default="https://generativelanguage.googleapis.com/v1beta/openai/",
        validation_alias="GEMINI_BASE_URL",
    )

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any) -> Any:
        """Field name -> value: the environment's, then what was passed explicitly."""
        if not isinstance(data, dict):
            return data
        values: dict[str, Any] = {}
        for name, aliases in _ALIASES.items():
            for alias in aliases:
                value = os.environ.get(alias)
                if value:
                    values[name] = value
                    break
        for key, value in data.items():
            values[_FIELD_OF.get(str(key), str(key))] = value
        return values

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        try:
            check_url(value)
        except ValueError as exc:
            raise ValueError(f"{exc}; expected {URL_FORMS}") from None
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not NAMESPACE_PATTERN.fullmatch(value):
            raise ValueError(
                "a namespace holds only letters, digits, '_', '.', ':' and '-' (every Redis "
                "key starts with {namespace})")
        return value

    @field_validator("header_keys", mode="before")
    @classmethod
    def _header_keys(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        keys = tuple(k.strip() for k in value.split(","))
        if any(len(k) < MIN_HEADER_KEY_CHARS for k in keys):
            raise ValueError(
                f"LLM_ROUTER_HEADER_KEYS: expected comma-separated keys of at least "
                f"{MIN_HEADER_KEY_CHARS} characters each (make one with `python -c 'import "
                f"secrets; print(secrets.token_urlsafe(32))'`)")
        return keys

    @field_validator("simulated_error_rates", mode="before")
    @classmethod
    def _rates(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        rates: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            model, sep, rate = part.partition("=")
            try:
                number = float(rate)
            except ValueError:
                number = -1.0
            if not sep or not model.strip() or not 0 <= number <= 1:
                raise ValueError(
                    f"LLM_ROUTER_SIMULATED_ERROR_RATES: expected model=rate pairs with rates "
                    f"in [0, 1] separated by commas, got {part!r}"
                )
            rates[model.strip()] = number
        return rates

    @model_validator(mode="after")
    def _lease(self) -> Settings:
        # The rule of workers.broker.leases.LeaseOptions (tests/test_broker_options.py keeps
        # the two in step): a lease outlasts an unnoticed outage (renew + 2 s), two renewals
        # and a connect timeout (3 s), so a live worker's delivery never expires.
        lease, renew = self.broker_lease_seconds, self.broker_lease_renew_seconds
        if lease < 3 * renew + 6:
            raise ValueError(
                f"LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS={renew} is too long for "
                f"LLM_ROUTER_BROKER_LEASE_SECONDS={lease}: the lease must be at least "
                f"3 x renew + 6 seconds; lower the renew interval to "
                f"{max(1, (lease - 6) // 3)} or raise the lease to {3 * renew + 6}"
            )
        return self

    @model_validator(mode="after")
    def _default_broker(self) -> Settings:
        # Frozen model: fill derived defaults through object.__setattr__ once, at load.
        # A Cluster or Sentinel URL serves the routing data only: Celery's broker and
        # backend then need URLs of their own (`celery_config` says so if they are unset).
        if is_topology_url(self.redis_url):
            return self
        if not self.broker_url:
            object.__setattr__(self, "broker_url", self.redis_url)
        if not self.result_backend:
            object.__setattr__(self, "result_backend", self.redis_url)
        return self

    @property
    def signing_keys(self) -> tuple[bytes, ...]:
        """The route header's HMAC keys, the signing one first (empty: none, live mode)."""
        if self.header_keys:
            return tuple(k.get_secret_value().encode() for k in self.header_keys)
        return (SIMULATED_HEADER_KEY,) if self.provider_mode == "simulated" else ()

    @property
    def broker_kind(self) -> BrokerKind:
        return broker_kind(self.broker_url)

    def key(self, *parts: str) -> str:
        """A Redis key under this deployment's namespace (its hash tag, `routing.keys`)."""
        return ":".join((keyspace(self.namespace), *parts))


def _aliases(alias: Any) -> tuple[str, ...]:
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    return ()


# field name -> its environment variables (first set one wins); variable -> field name
_ALIASES = {name: _aliases(f.validation_alias) for name, f in Settings.model_fields.items()}
_FIELD_OF = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}


# Fields whose value a refusal does not repeat (secrets), or shows without its password.
_SECRET = {name for name in _ALIASES if name.endswith(("_key", "_keys"))}
_URLS = {name for name in _ALIASES if name.endswith("_url") or name == "result_backend"}


def refused(exc: ValidationError) -> SettingsError:
    """The settings' refusal as one line: for each refused variable its name (the
    environment variable), its value (unless it may be secret), the reason and the fix."""
    problems: list[str] = []
    variables: list[str] = []
    for error in exc.errors(include_url=False):
        reason = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across variables: its message names them and the fix
            problems.append(reason)
            variables += re.findall(r"\bLLM_ROUTER_[A-Z_]+", reason)
            continue
        name = str(error["loc"][0])
        aliases = _ALIASES.get(name) or (name,)
        variable = next((a for a in aliases if os.environ.get(a)), aliases[0])
        variables.append(variable)
        value = os.environ.get(variable)
        shown = ("" if value is None or name in _SECRET
                 else f"={redact_url(value)!r}" if name in _URLS else f"={value!r}")
        field = Settings.model_fields.get(name)
        default = None if field is None else field.get_default(call_default_factory=True)
        unset = ("unset it for the default" if default in (None, "", {}, ())
                 else f"unset it for the default ({default})")
        problems.append(f"{variable}{shown}: {reason.removeprefix(f'{variable}: ')}; "
                        f"set a valid value or {unset}")
    return SettingsError(problems, variables)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, from the environment (read once). A refused variable
    raises `SettingsError`, one line that names it, the reason and the fix."""
    try:
        return Settings()
    except ValidationError as exc:
        raise refused(exc) from None
