"""The settings a command reads, straight from the environment when that is certain to
give what `workers.settings.Settings` gives, without building that pydantic model.

`plain_settings()` returns the `CommandSettings` (the fields in `PLAIN`) when every
variable the settings read is unset (or empty: unset to `Settings` too) or holds a value
plainly valid for its field (a decimal number within its bounds, a known choice, any text
for a text or secret field, a Redis URL `check_url` takes), and the cross-variable rule
holds; else None, and the caller builds `Settings` (`get_settings`), which accepts the
value or refuses it with its own message. Every variable of `Settings` is listed here
(`VARIABLES`; tests/test_plain_settings.py keeps the two in step): a value of a variable
this module does not read plainly (a mapping, a Decimal) means None.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from routing.redis_url import check_url

NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]+")
MIN_HEADER_KEY_CHARS = 32
_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,17})?")
_REFUSED = object()  # not plainly valid: `Settings` decides

Check = Callable[[str], Any]  # the value `Settings` makes of the text, or _REFUSED


def _text(value: str) -> Any:
    return value


def _number(kind: type, low: float | None, high: float | None, *,
            above: bool = False) -> Check:
    """An int or float field's check: `low` its ge bound (its gt bound when `above`),
    `high` its le bound."""
    pattern = _INT if kind is int else _FLOAT

    def check(value: str) -> Any:
        if not pattern.fullmatch(value):
            return _REFUSED
        number = kind(value)
        if low is not None and (number <= low if above else number < low):
            return _REFUSED
        return _REFUSED if high is not None and number > high else number

    return check


def _redis_url(value: str) -> Any:
    try:
        check_url(value)
    except ValueError:
        return _REFUSED
    return value


def _namespace(value: str) -> Any:
    return value if NAMESPACE_PATTERN.fullmatch(value) else _REFUSED


def _mode(value: str) -> Any:
    return value if value in ("live", "simulated") else _REFUSED


def _header_keys(value: str) -> Any:
    keys = tuple(k.strip() for k in value.split(","))
    return _REFUSED if any(len(k) < MIN_HEADER_KEY_CHARS for k in keys) else value


def _not_plain(value: str) -> Any:
    return _REFUSED


# field -> (its variables, first set one wins; its default; the check of a set value)
VARIABLES: dict[str, tuple[tuple[str, ...], Any, Check]] = {
    "redis_url": (("LLM_ROUTER_REDIS_URL",), "redis://127.0.0.1:6379/0", _redis_url),
    "broker_url": (("LLM_ROUTER_BROKER_URL",), "", _text),
    "result_backend": (("LLM_ROUTER_RESULT_BACKEND",), "", _text),
    "namespace": (("LLM_ROUTER_NAMESPACE",), "llmr", _namespace),
    "provider_mode": (("LLM_ROUTER_PROVIDER_MODE",), "live", _mode),
    "simulated_latency": (("LLM_ROUTER_SIMULATED_LATENCY",), 0.05, _number(float, 0, None)),
    "simulated_error_rates": (("LLM_ROUTER_SIMULATED_ERROR_RATES",), {}, _not_plain),
    "simulated_format_error_rate": (("LLM_ROUTER_SIMULATED_FORMAT_ERROR_RATE",), 0.0,
                                    _number(float, 0, 1)),
    "config_poll_seconds": (("LLM_ROUTER_CONFIG_POLL_SECONDS",), 0.5,
                            _number(float, 0, 60, above=True)),
    "request_timeout": (("LLM_ROUTER_REQUEST_TIMEOUT",), 120.0,
                        _number(float, 0, 86400, above=True)),
    "result_expires_seconds": (("LLM_ROUTER_RESULT_EXPIRES",), 86400, _number(int, 60, None)),
    "ledger_keep_days": (("LLM_ROUTER_LEDGER_DAYS",), 14, _number(int, 1, None)),
    "run_keep_days": (("LLM_ROUTER_RUN_DAYS",), 30, _number(int, 1, 400)),
    "metrics_top_agents": (("LLM_ROUTER_METRICS_TOP_AGENTS",), 10, _number(int, 0, 100)),
    "broker_prefix": (("LLM_ROUTER_BROKER_PREFIX",), "", _text),
    "visibility_timeout": (("LLM_ROUTER_VISIBILITY_TIMEOUT",), 0, _number(int, 0, None)),
    "broker_lease_seconds": (("LLM_ROUTER_BROKER_LEASE_SECONDS",), 20,
                             _number(int, 10, 3600)),
    "broker_lease_renew_seconds": (("LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS",), 4,
                                   _number(int, 1, 1198)),
    "broker_lease_sweep_seconds": (("LLM_ROUTER_BROKER_LEASE_SWEEP_SECONDS",), 2,
                                   _number(int, 1, 60)),
    "settle_retry_seconds": (("LLM_ROUTER_SETTLE_RETRY_SECONDS",), 300.0,
                             _number(float, 0, 600)),
    "broker_pause_before_record": (("LLM_ROUTER_BROKER_PAUSE_BEFORE_RECORD",), 0.0,
                                   _number(float, 0, 600)),
    "retry_base_delay": (("LLM_ROUTER_RETRY_BASE",), 2.0, _number(float, 0, 86400)),
    "retry_max_delay": (("LLM_ROUTER_RETRY_MAX",), 60.0, _number(float, 0, 86400)),
    "attempts_per_model": (("LLM_ROUTER_ATTEMPTS_PER_MODEL",), 3, _number(int, 1, 20)),
    "max_escalations": (("LLM_ROUTER_MAX_ESCALATIONS",), 2, _number(int, 0, 5)),
    "metrics_port": (("LLM_ROUTER_METRICS_PORT",), 0, _number(int, 0, 65535)),
    "beat_lock_timeout": (("LLM_ROUTER_BEAT_LOCK_TIMEOUT",), 60, _number(int, 2, 3600)),
    "header_keys": (("LLM_ROUTER_HEADER_KEYS",), (), _header_keys),
    "anthropic_api_key": (("ANTHROPIC_API_KEY",), None, _text),
    "openai_api_key": (("OPENAI_API_KEY",), None, _text),
    "moonshot_api_key": (("MOONSHOT_API_KEY",), None, _text),
    "gemini_api_key": (("GEMINI_API_KEY", "GOOGLE_API_KEY"), None, _text),
    "anthropic_admin_key": (("ANTHROPIC_ADMIN_KEY",), None, _text),
    "openai_admin_key": (("OPENAI_ADMIN_KEY",), None, _text),
    "reconcile_anthropic_workspace": (("LLM_ROUTER_RECONCILE_ANTHROPIC_WORKSPACE",), None,
                                      _text),
    "reconcile_anthropic_api_key_id": (("LLM_ROUTER_RECONCILE_ANTHROPIC_API_KEY_ID",), None,
                                       _text),
    "reconcile_openai_project": (("LLM_ROUTER_RECONCILE_OPENAI_PROJECT",), None, _text),
    "reconcile_openai_api_key_id": (("LLM_ROUTER_RECONCILE_OPENAI_API_KEY_ID",), None,
                                    _text),
    "reconcile_tolerance": (("LLM_ROUTER_RECONCILE_TOLERANCE",), Decimal("0.01"),
                            _not_plain),
    "reconcile_tolerance_usd": (("LLM_ROUTER_RECONCILE_TOLERANCE_USD",), Decimal("0.01"),
                                _not_plain),
    "reconcile_delay_hours": (("LLM_ROUTER_RECONCILE_DELAY_HOURS",), 24,
                              _number(int, 0, 24 * 7)),
    "anthropic_base_url": (("ANTHROPIC_BASE_URL",), None, _text),
    "openai_base_url": (("OPENAI_BASE_URL",), None, _text),
    "moonshot_base_url": (("MOONSHOT_BASE_URL",), "https://api.moonshot.ai/v1", _text),
    "gemini_base_url": (("GEMINI_BASE_URL",),
                        "https://generativelanguage.googleapis.com/v1beta/openai/", _text),
}
class CommandSettings(NamedTuple):
    """The settings a command may read plainly (the fields of `Settings` it needs)."""

    redis_url: str
    namespace: str
    ledger_keep_days: int
    run_keep_days: int


PLAIN = CommandSettings._fields


def plain_settings() -> CommandSettings | None:
    """The `PLAIN` fields as `Settings` would give them, or None (build `Settings`)."""
    values: dict[str, Any] = {}
    for name, (variables, default, check) in VARIABLES.items():
        given = next((v for v in (os.environ.get(a) for a in variables) if v), None)
        value = default if given is None else check(given)
        if value is _REFUSED:
            return None
        values[name] = value
    lease, renew = values["broker_lease_seconds"], values["broker_lease_renew_seconds"]
    if lease < 3 * renew + 6:  # Settings' rule across the two (it names both)
        return None
    return CommandSettings(*(values[name] for name in PLAIN))
