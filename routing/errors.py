"""Errors of the routing package: one root class, each says what to do."""

from __future__ import annotations

from collections.abc import Iterable

from routing.money import usd


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class RoutingError(Exception):
    """Root of every error raised by `routing`."""


class ConfigError(RoutingError):
    """A routing config (or another document read the same way: `what` names it, e.g.
    "demo workload") was refused; nothing was stored.

    `problems` lists `(path, reason)` pairs, e.g.
    `("model_keys.code_review.fallbacks[1]", "unknown model 'gpt-5'")`.
    """

    def __init__(self, problems: list[tuple[str, str]], what: str = "routing config") -> None:
        # A refused document may hold text no encoder takes (a lone surrogate): the
        # problems are printed, so they name it escaped.
        self.problems = [(_printable(path), _printable(reason)) for path, reason in problems]
        self.what = what
        problems = self.problems
        lines = [f"{path}: {reason}" if path else reason for path, reason in problems]
        super().__init__(f"{what} refused:\n  " + "\n  ".join(lines))


class VersionConflictError(RoutingError):
    """Someone else wrote the config between our read and our write."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"config version conflict: expected version {expected} but the store holds "
            f"version {actual}; re-read with `llm-router config show` and apply again"
        )


class ConfigExistsError(RoutingError):
    """`init` found a stored config and was not told to replace it."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(
            f"a routing config is already stored (version {version}); use "
            "`llm-router config init --force` to replace it (history is kept), or "
            "`llm-router config apply FILE` to change it"
        )


class ConfigNotInitializedError(RoutingError):
    """No routing config is stored yet."""

    def __init__(self, namespace: str) -> None:
        super().__init__(
            f"no routing config is stored under namespace '{namespace}'; "
            "run `llm-router config init` first"
        )


class UnknownVersionError(RoutingError):
    """A version asked for is not in the history."""

    def __init__(self, version: int, available: list[int]) -> None:
        self.version = version
        span = f"{min(available)}..{max(available)}" if available else "none"
        super().__init__(f"config version {version} is not in the history (kept: {span})")


class UnknownModelKeyError(RoutingError):
    """A caller asked for a model key the config does not define."""

    def __init__(self, model_key: str, known: list[str]) -> None:
        self.model_key = model_key
        self.known = sorted(known)
        super().__init__(
            f"unknown model key '{model_key}'; known model keys: {', '.join(self.known)}"
        )


class StoreUnavailableError(RoutingError):
    """Redis could not be reached (or refused the connection: a database number out of
    range, a user without permission) and no config is held in memory yet."""


class RedisUrlError(RoutingError, ValueError):
    """LLM_ROUTER_REDIS_URL is not a Redis URL this project can connect to."""

    def __init__(self, url: str, reason: str, forms: str) -> None:
        super().__init__(f"LLM_ROUTER_REDIS_URL={url!r}: {reason}; expected {forms}")


class BudgetExceededError(RoutingError):
    """A call could not reserve its worst-case cost within a budget."""

    def __init__(
        self,
        budget: str,
        limit_micros: int,
        spent_micros: int,
        reserved_micros: int,
        needed_micros: int,
        resets_at: str,
    ) -> None:
        self.budget = budget
        self.limit_micros = limit_micros
        self.spent_micros = spent_micros
        self.reserved_micros = reserved_micros
        self.needed_micros = needed_micros
        self.resets_at = resets_at
        super().__init__(
            f"budget '{budget}' exceeded: limit ${usd(limit_micros):.6f}, spent "
            f"${usd(spent_micros):.6f}, reserved ${usd(reserved_micros):.6f}, this call needs "
            f"up to ${usd(needed_micros):.6f}; it resets at {resets_at}"
        )


class PromptTooLargeError(RoutingError):
    """No candidate model of a model key has a context window large enough."""

    def __init__(self, model_key: str, input_tokens: int, windows: dict[str, int]) -> None:
        self.model_key = model_key
        self.input_tokens = input_tokens
        sizes = ", ".join(f"{m}={w}" for m, w in windows.items())
        super().__init__(
            f"prompt: about {input_tokens} input tokens do not fit the context window of any "
            f"model of '{model_key}' ({sizes}); shorten the prompt or add a larger model "
            "to the key's fallbacks"
        )


class NoCapableModelError(RoutingError):
    """No candidate model of a model key supports what the call needs (tools, images)."""

    def __init__(self, model_key: str, needs: Iterable[str], lacking: dict[str, str]) -> None:
        self.model_key = model_key
        self.needs = sorted(needs)
        shown = ", ".join(f"{m} {why}" for m, why in lacking.items())
        super().__init__(
            f"the call needs {', '.join(self.needs)}, which no model of '{model_key}' "
            f"supports ({shown}); send it to a model key whose models support it, or add "
            "such a model to the key's fallbacks (models.<name>.supports lists what a "
            "model takes)"
        )


class NothingToApplyError(RoutingError):
    """The routing review recommends keeping a model key as it is."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"model_keys.{key}: the review recommends no change ({reason})")


class PlanInputError(RoutingError):
    """`plan` was given input it cannot use (a bad flag value, an unknown model key)."""

    def __init__(self, flag: str, reason: str) -> None:
        self.flag = flag
        self.reason = reason
        super().__init__(f"{flag}: {reason}")


class AttributionError(RoutingError, ValueError):
    """An attribution field (agent, run_id, tags, run caps) is malformed: names its path."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


class RunBudgetExceededError(RoutingError):
    """A run (`run_id`) reached its cap, or was stopped: this call and every later one of
    the run are refused, nothing charged."""

    def __init__(self, run_id: str, reason: str, spent_micros: int, cap_micros: int | None,
                 calls: int, cap_calls: int | None) -> None:
        self.run_id = run_id
        self.reason = reason
        self.spent_micros = spent_micros
        self.cap_micros = cap_micros
        self.calls = calls
        self.cap_calls = cap_calls
        cap = ", ".join(
            part for part in (
                None if cap_micros is None else f"${usd(cap_micros):.6f}",
                None if cap_calls is None else f"{cap_calls} calls",
            ) if part
        ) or "none"
        why = "stopped by an operator (llm-router runs stop)" if reason == "stopped" else \
            f"its cap is reached ({reason})"
        super().__init__(
            f"RunBudgetExceeded: run '{run_id}' {why}: spent ${usd(spent_micros):.6f} in "
            f"{calls} calls, cap {cap}; every further call of this run is refused"
        )


class CatalogMissError(LookupError):
    """The price catalog has no such provider or model."""
