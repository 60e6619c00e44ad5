"""Candidates proposed: per model key, models that could serve it for less.

From the price catalog (`routing.catalog.lookup`) and the config's own models: models of the
providers the config reaches (those of its models), whose context window holds the
key's calls (the larger of its mean input over the window and its largest recorded
sample, plus its `max_tokens`), whose output limit holds its `max_tokens`, with every
capability the key `needs`, cheaper than the key's model on the key's own tokens of the
window (`SAVING_BASIS`). A catalog model the config does not name yet is marked `new`;
its output limit and capabilities are not in the catalog: its output limit is taken as
the config's default (`assumed_output_limit`) and it is proposed only to keys that need
no capability. Models that are cheaper but do not fit are listed apart with why
(`rejected`).

`add_trials` writes a key's best candidate (a new model with the catalog's prices, on
the tier of its provider's nearest-priced model) and a trial of it, as one config
document, for the store to write as a new version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from routing.config.load import read_price
from routing.config.models import DEFAULT_MAX_OUTPUT_TOKENS, ModelSpec, RoutingConfig
from routing.config.price import Price
from routing.config.stored import dump
from routing.errors import ConfigError
from routing.evidence.per_key import MONTH_DAYS
from routing.money import usd
from routing.prices.pricing import Usage, cost_micros

DEFAULT_TRIAL_SAMPLE = 0.01
DEFAULT_TRIAL_BUDGET_USD = Decimal("1.00")


@dataclass
class Candidate:
    model: str  # the config's name (a new model: the name --add gives it)
    provider: str
    catalog_id: str
    new: bool
    tier: str
    context_window: int
    output_limit: int
    monthly_micros: int
    saving_micros: int
    price: dict[str, Any]  # the price document (a new model: the catalog's)
    in_trial: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "provider": self.provider, "catalog_id": self.catalog_id,
                "new": self.new, "tier": self.tier, "context_window": self.context_window,
                "output_limit": self.output_limit,
                "monthly_usd": round(usd(self.monthly_micros), 2),
                "monthly_saving_usd": round(usd(self.saving_micros), 2),
                "monthly_micros": self.monthly_micros,
                "monthly_saving_micros": self.saving_micros,
                "in_trial": self.in_trial, "notes": self.notes, "price": self.price}


def config_name(catalog_id: str) -> str:
    """A config model name for a catalog id (lower case, `[a-z0-9_.-]`)."""
    return re.sub(r"[^a-z0-9_.\-]", "-", catalog_id.lower()).strip("-.") or "model"


def _monthly(usage: Usage, price: Price, calls: int, days: int) -> int:
    return round(cost_micros(usage, price, calls=max(1, calls)) * MONTH_DAYS / max(1, days))


def _tier_for(config: RoutingConfig, provider: str, price: Price) -> str:
    """The tier of the provider's config model nearest in list price (any model's if the
    provider has none)."""
    pool = [m for m in config.models.values() if str(m.provider) == provider] or list(
        config.models.values())
    best = min(pool, key=lambda m: abs((m.price.list_usd if m.price else 0) - price.list_usd))
    return best.tier


def _pool(config: RoutingConfig) -> list[tuple[str, ModelSpec | None, str, str, int | None,
                                            Price | None]]:
    """(name, config spec or None, provider, catalog id, context window, price) of every
    model that may be proposed: the config's, then the catalog's it does not name."""
    from routing.catalog import lookup as catalog

    out: list[tuple[str, ModelSpec | None, str, str, int | None, Price | None]] = [
        (name, spec, str(spec.provider), spec.catalog_id or spec.provider_model,
         spec.context_window, spec.price) for name, spec in config.models.items()]
    named = {spec.catalog_id or spec.provider_model for spec in config.models.values()}
    for provider in sorted({str(m.provider) for m in config.models.values()}):
        for entry in catalog.provider_models(provider):
            if entry.id in named or config_name(entry.id) in config.models:
                continue
            try:
                price = read_price(catalog.catalog_price(provider, entry.id))
            except (catalog.CatalogMissError, LookupError, ValueError, ConfigError):
                continue  # no current token price: nothing to weigh
            out.append((config_name(entry.id), None, provider, entry.id,
                        entry.context_window, price))
    return out


def propose(config: RoutingConfig, evidence: dict[str, dict[str, Any]],
            largest_input: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Per model key of `evidence` (the review's `model_keys`, over 30 days): its
    candidates (cheapest saving first) and the cheaper models that do not fit, with why.
    `largest_input`: per key, the largest input of its recorded samples, in tokens."""
    pool = _pool(config)
    out: dict[str, dict[str, Any]] = {}
    for key, entry in evidence.items():
        spec = config.model_keys[key]
        calls = int(entry["model_calls"])
        if calls == 0:
            out[key] = {"model": spec.model, "candidates": [], "rejected": [],
                        "reason": "no calls on its model in the window: nothing to price"}
            continue
        usage = Usage(**entry["model_usage"])
        days = int(entry["days_observed"])
        own = _monthly(usage, config.price_of(spec.model), calls, days)
        mean_input = usage.total_input_tokens // max(1, calls)
        needed_input = max(mean_input, (largest_input or {}).get(key, 0))
        needs = frozenset(spec.needs)
        trials = {t.candidate for t in spec.trials}
        candidates: list[Candidate] = []
        rejected: list[dict[str, Any]] = []
        for name, model, provider, cid, window, price in pool:
            if name == spec.model or price is None:
                continue
            monthly = _monthly(usage, price, calls, days)
            if monthly >= own:
                continue
            why: list[str] = []
            notes: list[str] = []
            if window is None:
                why.append("the catalog gives no context window")
            elif needed_input + spec.max_tokens > window:
                why.append(f"context window {window} < {needed_input} input + "
                           f"{spec.max_tokens} max_tokens")
            limit = model.max_output_tokens if model else DEFAULT_MAX_OUTPUT_TOKENS
            if spec.max_tokens > limit:
                why.append(f"output limit {limit} < max_tokens {spec.max_tokens}")
            if model is None:
                notes.append(f"output limit assumed {limit} (not in the catalog)")
                if needs:
                    why.append(f"needs {', '.join(sorted(needs))}: the catalog does not say "
                               "what a new model supports")
            elif not model.can(needs):
                why.append(f"lacks {', '.join(sorted(model.lacks(needs)))}")
            if why:
                rejected.append({"model": name, "new": model is None, "why": why})
                continue
            candidates.append(Candidate(
                name, provider, cid, model is None,
                model.tier if model else _tier_for(config, provider, price),
                int(window or 0), limit, monthly, own - monthly,
                dump(price, exclude_none=True), name in trials, notes))
        candidates.sort(key=lambda c: (-c.saving_micros, c.model))
        out[key] = {"model": spec.model, "monthly_usd": round(usd(own), 2),
                    "needed_context": needed_input + spec.max_tokens,
                    "needs": sorted(needs),
                    "candidates": [c.as_dict() for c in candidates], "rejected": rejected}
    return out


def add_trials(config: RoutingConfig, proposed: dict[str, dict[str, Any]],
               keys: list[str] | None = None, *, sample: float = DEFAULT_TRIAL_SAMPLE,
               budget_usd: Decimal = DEFAULT_TRIAL_BUDGET_USD
               ) -> tuple[dict[str, Any], list[str]]:
    """The config document with, for each key of `keys` (default: every key proposed a
    candidate), its best candidate that has no trial yet added as a model (when new)
    and as a trial; and one line per change."""
    doc = config.document()
    changes: list[str] = []
    for key, entry in proposed.items():
        if keys is not None and key not in keys:
            continue
        best = next((c for c in entry["candidates"] if not c["in_trial"]), None)
        if best is None:
            continue
        name = best["model"]
        if name not in doc["models"]:
            doc["models"][name] = {
                "provider": best["provider"], "provider_model": best["catalog_id"],
                "catalog_id": best["catalog_id"], "tier": best["tier"],
                "context_window": best["context_window"],
                "max_output_tokens": best["output_limit"], "price": best["price"]}
            changes.append(f"models.{name}: new, from the catalog ({best['catalog_id']})")
        doc["model_keys"][key].setdefault("trials", []).append(
            {"candidate": name, "sample": sample, "daily_budget_usd": str(budget_usd)})
        changes.append(f"model_keys.{key}.trials: {name} (saves "
                       f"${best['monthly_saving_usd']:.2f}/month at catalog prices)")
    return doc, changes
