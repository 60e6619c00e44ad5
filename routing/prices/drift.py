"""Price drift: every model of a config against the price catalog, and the catalog's prices
written back as a config change.

A model is compared rate by rate at each input-size band: the base (no tier) and every
tier threshold either side has; at each band, the rates the config would charge a call
just above the threshold against the catalog's. So a tier the config lacks shows as the
config's base rates against the catalog's tier rates (and is listed as a missing tier).
The batch discount is compared when the config gives one (a model without one is never
batched, whatever the catalog publishes). `ratio` is config / catalog.

`drift_ratio` is one number per model for a gauge: the compared ratio furthest from 1
(1.0 when the model agrees with the catalog). What a difference did to the spend is the
review's price section (`routing.evidence.price_drift`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from routing.catalog import cache as catalog_cache
from routing.config.load import read_price
from routing.config.models import RoutingConfig
from routing.config.price import RATES, Price
from routing.config.stored import dump
from routing.errors import CatalogMissError, ConfigError


@dataclass(frozen=True)
class FieldDrift:
    field: str
    above_input_tokens: int  # 0: the base rates
    config: Decimal | None
    catalog: Decimal | None

    @property
    def ratio(self) -> float | None:
        if self.config is None or self.catalog is None or not self.catalog:
            return None
        return float(self.config / self.catalog)

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "above_input_tokens": self.above_input_tokens,
                "config": _num(self.config), "catalog": _num(self.catalog),
                "ratio": None if self.ratio is None else round(self.ratio, 6)}


@dataclass(frozen=True)
class ModelDrift:
    model: str
    catalog_id: str
    # "agrees", "drifts" or "unknown" (the catalog does not know the model)
    status: str
    fields: list[FieldDrift] = field(default_factory=list)  # the differing ones
    missing_tiers: list[int] = field(default_factory=list)  # the catalog's, not the config's
    extra_tiers: list[int] = field(default_factory=list)  # the config's, not the catalog's
    reason: str = ""

    @property
    def drift_ratio(self) -> float | None:
        """The differing ratio furthest from 1 (1.0: agrees; None: unknown model)."""
        if self.status == "unknown":
            return None
        ratios = [f.ratio for f in self.fields if f.ratio is not None]
        if not ratios:
            return 1.0 if self.status == "agrees" else math.inf
        return max(ratios, key=lambda r: abs(math.log(r)) if r > 0 else math.inf)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "catalog_id": self.catalog_id, "status": self.status,
                "drift_ratio": self.drift_ratio, "fields": [f.as_dict() for f in self.fields],
                "missing_tiers": self.missing_tiers, "extra_tiers": self.extra_tiers,
                "reason": self.reason}


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def catalog_prices(config: RoutingConfig, *, at: datetime | None = None
                   ) -> dict[str, Price | str]:
    """model -> the catalog's price, or why the catalog has none."""
    out: dict[str, Price | str] = {}
    for name, spec in config.models.items():
        try:
            out[name] = read_price(catalog_cache.catalog_price(
                spec.provider.value, spec.catalog_id or spec.provider_model, at=at))
        except CatalogMissError as exc:
            out[name] = str(exc)
    return out


def compare(name: str, catalog_id: str, ours: Price, theirs: Price) -> ModelDrift:
    ours_at = {t.above_input_tokens for t in ours.tiers}
    theirs_at = {t.above_input_tokens for t in theirs.tiers}
    fields = []
    for above in sorted({0} | ours_at | theirs_at):
        a, b = ours.rates_for(above + 1 if above else 0), theirs.rates_for(above + 1 if above
                                                                             else 0)
        fields += [FieldDrift(r, above, getattr(a, r), getattr(b, r)) for r in RATES
                   if getattr(a, r) != getattr(b, r)]
    if ours.batch_discount is not None and ours.batch_discount != theirs.batch_discount:
        fields.append(FieldDrift("batch_discount", 0, ours.batch_discount,
                                 theirs.batch_discount))
    missing, extra = sorted(theirs_at - ours_at), sorted(ours_at - theirs_at)
    status = "drifts" if fields or missing or extra else "agrees"
    return ModelDrift(name, catalog_id, status, fields, missing, extra)


def check(config: RoutingConfig, *, at: datetime | None = None) -> dict[str, Any]:
    """Every model of `config` against the catalog (JSON-able)."""
    found = catalog_prices(config, at=at)
    models = []
    for name, spec in sorted(config.models.items()):
        theirs, cid = found[name], spec.catalog_id or spec.provider_model
        if isinstance(theirs, str):
            models.append(ModelDrift(name, cid, "unknown", reason=theirs))
        else:
            models.append(compare(name, cid, config.price_of(name), theirs))
    return {
        "catalog": catalog_cache.info().as_dict(),
        "config_version": config.version,
        "agrees": all(m.status != "drifts" for m in models),
        "drifted": [m.model for m in models if m.status == "drifts"],
        "unknown": [m.model for m in models if m.status == "unknown"],
        "models": [m.as_dict() for m in models],
    }


def drift_ratios(config: RoutingConfig) -> dict[str, float]:
    """model -> drift ratio, for the models the catalog knows."""
    out = {}
    for m in check(config)["models"]:
        if m["drift_ratio"] is not None:
            out[m["model"]] = float(m["drift_ratio"])
    return out


def updated(document: dict[str, Any], config: RoutingConfig, models: list[str] | None = None,
            *, at: datetime | None = None) -> tuple[list[str], list[str]]:
    """Write the catalog's prices of `models` (default: every model the catalog knows) into
    `document` (a config document, edited in place): (models changed, models the catalog
    does not know). A named model the config lacks, or the catalog does not know, is
    refused by its path. A model's batch discount is set only where the config gives one
    (a model without one stays unbatched)."""
    names = models or sorted(config.models)
    unknown_names = [m for m in names if m not in config.models]
    if unknown_names:
        raise ConfigError([(f"models.{m}", "not a model of the config (known: "
                            f"{', '.join(sorted(config.models))})") for m in unknown_names])
    found = catalog_prices(config, at=at)
    missing = [m for m in names if isinstance(found[m], str)]
    if models and missing:
        raise ConfigError([(f"models.{m}.price", f"{found[m]}; set models.{m}.catalog_id to "
                            "the catalog's id of this model, or keep its explicit prices "
                            "(with their source)") for m in missing])
    changed = []
    for name in names:
        theirs = found[name]
        if isinstance(theirs, str):
            continue
        ours = config.price_of(name)
        new = replace(theirs, batch_discount=(
            None if ours.batch_discount is None else theirs.batch_discount))
        if new != ours:
            document["models"][name]["price"] = dump(new, exclude_none=True)
            changed.append(name)
    return changed, missing
