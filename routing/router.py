"""The router: from a model key (and input size) to a decision, with no I/O.

A `Router` is compiled once per config version; `decide` is then a couple of dict
lookups and a short scan of the rules that name the key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from routing.config.kinds import Capability, capabilities_shown
from routing.config.models import RoutingConfig, Rule
from routing.errors import NoCapableModelError, PromptTooLargeError, UnknownModelKeyError

DEFAULT_RULE = "default"


@dataclass(frozen=True, slots=True)
class Decision:
    model_key: str
    model: str
    tier: str
    queue: str
    rule: str
    fallbacks: tuple[str, ...]
    config_version: int
    max_tokens: int
    # Models passed over because they lack a capability the call needs, in order:
    # ((model, reason), ...), e.g. ("kimi-for-coding", "lacks images").
    skipped: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fallbacks"] = list(self.fallbacks)
        out["skipped"] = [{"model": m, "reason": r} for m, r in self.skipped]
        return out

    def skip_hops(self) -> tuple[dict[str, str], ...]:
        """The skips as route hops (`{"kind": "skip", "from", "to", "reason"}`)."""
        return tuple({"kind": "skip", "from": m, "to": self.model, "reason": r}
                     for m, r in self.skipped)


def lacking(config: RoutingConfig, model: str, needs: frozenset[Capability]) -> str | None:
    """Why `model` cannot take a call that needs `needs` (None: it can), e.g.
    `lacks tools, images`."""
    spec = config.models.get(model)
    if not needs or spec is None or spec.can(needs):
        return None
    return f"lacks {capabilities_shown(spec.lacks(needs))}"


class Router:
    """Routing decisions for one config version."""

    __slots__ = ("_defaults", "_rules", "config")

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self._defaults: dict[str, Decision] = {}
        self._rules: dict[str, list[tuple[Rule, Decision]]] = {}
        for key, spec in config.model_keys.items():
            self._defaults[key] = self._decision(key, spec.model, DEFAULT_RULE)
            self._rules[key] = [
                (rule, self._decision(key, rule.model, rule.name))
                for rule in config.rules
                if key in rule.model_keys
            ]

    def _decision(self, key: str, model: str, rule: str) -> Decision:
        cfg = self.config
        spec = cfg.model_keys[key]
        tier = cfg.models[model].tier
        fallbacks = tuple(m for m in (spec.model, *spec.fallbacks) if m != model)
        return Decision(
            model_key=key,
            model=model,
            tier=tier,
            queue=cfg.tiers[tier].queue,
            rule=rule,
            fallbacks=fallbacks,
            config_version=cfg.version,
            max_tokens=spec.max_tokens,
        )

    @property
    def version(self) -> int:
        return self.config.version

    def decide(self, model_key: str, input_tokens: int = 0,
               needs: frozenset[Capability] = frozenset()) -> Decision:
        """The model for `model_key` given about `input_tokens` of input, on a model that
        supports every capability of `needs` (others are passed over, see
        `Decision.skipped`; none left: `NoCapableModelError`)."""
        try:
            decision = self._defaults[model_key]
        except KeyError:
            raise UnknownModelKeyError(model_key, list(self._defaults)) from None
        for rule, ruled in self._rules[model_key]:
            if input_tokens >= rule.min_input_tokens:
                decision = ruled
                break
        if (needs and not self.config.models[decision.model].can(needs)) or (
                input_tokens and not self._fits(decision.model, input_tokens,
                                                decision.max_tokens)):
            decision = self._refit(decision, input_tokens, needs)
        return decision

    def for_model(self, model_key: str, model: str, rule: str) -> Decision:
        """A decision that pins `model` (a fallback, a downgrade, a re-route)."""
        if model_key not in self._defaults:
            raise UnknownModelKeyError(model_key, list(self._defaults))
        return self._decision(model_key, model, rule)

    def _fits(self, model: str, input_tokens: int, max_tokens: int) -> bool:
        return input_tokens + max_tokens <= self.config.models[model].context_window

    def _refit(self, decision: Decision, input_tokens: int,
               needs: frozenset[Capability]) -> Decision:
        """The first of the decision's model and fallbacks that supports `needs` and holds
        the input (the decision's model does not)."""
        candidates = (decision.model, *decision.fallbacks)
        skipped: list[tuple[str, str]] = []
        for model in candidates:
            reason = lacking(self.config, model, needs)
            if reason is not None:
                skipped.append((model, reason))
                continue
            if input_tokens and not self._fits(model, input_tokens, decision.max_tokens):
                continue
            why = "capability" if skipped and skipped[0][0] == decision.model else "context_window"
            moved = self._decision(decision.model_key, model, f"{why}:{decision.model}")
            passed = {m for m, _ in skipped}
            return replace(moved, skipped=tuple(skipped), fallbacks=tuple(
                m for m in candidates if m != model and m not in passed))
        capable = [m for m in candidates if lacking(self.config, m, needs) is None]
        if not capable:
            raise NoCapableModelError(decision.model_key, needs, dict(skipped))
        windows = {m: self.config.models[m].context_window for m in capable}
        raise PromptTooLargeError(decision.model_key, input_tokens, windows)
